#!/usr/bin/env bats
# Runs the plugin's real hooks, the way the Buildkite agent runs them, against the real
# cargo-stash binary and SeaweedFS, on fresh clones of tests/fixtures/workspace.
#
# Needs (ci-templates/test.sh provides them): CARGO_STASH_TEST_S3 and the AWS_* variables
# of target/servers.env, STASH_BIN (the binary), STASH_WORK (a scratch dir), STASH_CARGO_HOME
# (a CARGO_HOME shared by the steps, as on one agent host), STASH_PYTHON (a python3 with
# PyYAML and jsonschema).
#
# `buildkite-agent` itself cannot run here (it needs a Buildkite backend): a stand-in
# script on PATH records every call, so the tests can check what the hooks asked of it.

setup_file() {
  BK_ROOT="$(cd "$BATS_TEST_DIRNAME/.." && pwd)"
  REPO_ROOT="$(cd "$BK_ROOT/../.." && pwd)"
  WORK="$STASH_WORK/buildkite"
  rm -rf "$WORK"
  mkdir -p "$WORK/bin"
  ORIGIN="$WORK/origin"
  cp -r "$REPO_ROOT/tests/fixtures/workspace" "$ORIGIN"
  rm -rf "$ORIGIN/target"
  printf '/target/\n/cargo-build.json\n' >"$ORIGIN/.gitignore"
  git -C "$ORIGIN" init -q -b main
  git -C "$ORIGIN" add -A
  git -C "$ORIGIN" -c user.name=test -c user.email=test@example.invalid commit -q -m fixture
  BK_STORE="$CARGO_STASH_TEST_S3/ci-buildkite-$(date +%s)-$$"
  AGENT_LOG="$WORK/agent.log"
  cat >"$WORK/bin/buildkite-agent" <<'AGENT'
#!/usr/bin/env bash
# Stand-in for buildkite-agent, which cannot run here: records its arguments, one call a line.
printf '%s\n' "$*" >>"$AGENT_LOG"
AGENT
  chmod +x "$WORK/bin/buildkite-agent"
  # The key prefixes of this pipeline (org acme, pipeline fixture, prefix option fixture)
  # on its default branch, on anything else, and of another pipeline.
  PROTECTED="protected-acme.fixture-fixture" UNPROTECTED="unprotected-acme.fixture-fixture"
  export BK_ROOT REPO_ROOT WORK ORIGIN BK_STORE AGENT_LOG PROTECTED UNPROTECTED
  P_KEY="$(key_prefix "$PROTECTED")"
  export P_KEY
}

setup() {
  bats_load_library bats-support
  bats_load_library bats-assert
  local v
  while IFS= read -r v; do unset "$v"; done < <(compgen -e | grep -E '^(CARGO_STASH_|BUILDKITE_)' || true)
  export BUILDKITE_PLUGIN_CARGO_STASH_STORE="$BK_STORE"
  export BUILDKITE_PLUGIN_CARGO_STASH_BINARY="$STASH_BIN"
  export BUILDKITE_PLUGIN_CARGO_STASH_PREFIX=fixture
  export CARGO_HOME="$STASH_CARGO_HOME"
  export BUILDKITE_PULL_REQUEST=false BUILDKITE_STEP_KEY="test$BATS_TEST_NUMBER" BUILDKITE_LABEL=":rust: test"
  export BUILDKITE_ORGANIZATION_SLUG=acme BUILDKITE_PIPELINE_SLUG=fixture
  export BUILDKITE_BRANCH=main BUILDKITE_PIPELINE_DEFAULT_BRANCH=main
  export CARGO_TERM_COLOR=never
  PATH="$WORK/bin:$PATH"
  : >"$AGENT_LOG"
}

clone() { # -> path of a fresh clone of the fixture
  local dir="$WORK/clone$BATS_TEST_NUMBER"
  rm -rf "$dir"
  git clone -q "$ORIGIN" "$dir"
  echo "$dir"
}

# step DIR COMMAND: environment hook, pre-command, the command, post-command, as the agent
# runs them: the environment hook's exports reach the rest; BUILDKITE_COMMAND_EXIT_STATUS
# carries the command's exit code to post-command. The status is the first failing hook's.
step() {
  local dir="$1" cmd="$2"
  (
    cd "$dir"
    # shellcheck source=/dev/null
    . "$BK_ROOT/hooks/environment"
    "$BK_ROOT/hooks/pre-command" || exit $? # a failed pre-command ends the job
    set +e
    bash -c "$cmd"
    BUILDKITE_COMMAND_EXIT_STATUS=$?
    set -e
    export BUILDKITE_COMMAND_EXIT_STATUS
    echo "command exited with $BUILDKITE_COMMAND_EXIT_STATUS"
    "$BK_ROOT/hooks/post-command"
  )
}

restore_only() { # DIR: environment and pre-command hooks only
  (
    cd "$1"
    # shellcheck source=/dev/null
    . "$BK_ROOT/hooks/environment"
    "$BK_ROOT/hooks/pre-command"
  )
}

key_prefix() { # user prefix -> the sanitized prefix cargo-stash puts in keys
  (cd "$ORIGIN" && "$STASH_BIN" key --json --prefix "$1") |
    "$STASH_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["target"]["key"].split("-stash1-")[0])'
}

snapshots() { # key prefix -> number of target snapshots in the store under it
  (cd "$ORIGIN" && "$STASH_BIN" ls --json --store "$BK_STORE" --prefix "$(key_prefix "$1")") |
    "$STASH_PYTHON" -c 'import json,sys; print(sum(1 for s in json.load(sys.stdin)["snapshots"] if s["layer"]=="target"))'
}

@test "shellcheck passes on every hook and the shared library" {
  run shellcheck -x "$BK_ROOT"/hooks/* "$BK_ROOT"/lib/*.bash
  assert_success
}

@test "plugin.yml validates: a JSON schema that accepts good configs and rejects bad ones" {
  local version
  version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$REPO_ROOT/Cargo.toml" | head -n 1)"
  run "$STASH_PYTHON" "$BATS_TEST_DIRNAME/validate-plugin.py" "$BK_ROOT/plugin.yml" "$BK_ROOT/lib/cargo-stash.bash" \
    "$BK_ROOT/README.md" cargo-stash/cargo-stash "$version" "$REPO_ROOT/docs/ci.md"
  assert_success
  assert_output --partial "plugin.yml: valid"
}

@test "bad config: an unknown policy fails the environment hook, naming the option" {
  export BUILDKITE_PLUGIN_CARGO_STASH_POLICY=sometimes
  run "$BK_ROOT/hooks/environment"
  assert_failure 2
  assert_output --partial "option 'policy' must be pull, push or pull-push, not 'sometimes'"
}

@test "bad config: a misspelt option is named" {
  export BUILDKITE_PLUGIN_CARGO_STASH_SAVE_ON_FAILIURE=true
  run "$BK_ROOT/hooks/environment"
  assert_failure 2
  assert_output --partial "unknown option 'save-on-failiure'"
}

@test "bad config: save-on-failure must be a boolean" {
  export BUILDKITE_PLUGIN_CARGO_STASH_SAVE_ON_FAILURE=maybe
  run "$BK_ROOT/hooks/post-command"
  assert_failure 2
  assert_output --partial "option 'save-on-failure' must be true or false, not 'maybe'"
}

@test "bad config: a store that is no store URL is named" {
  export BUILDKITE_PLUGIN_CARGO_STASH_STORE=ftp://example.invalid/cache
  run "$BK_ROOT/hooks/environment"
  assert_failure 2
  assert_output --partial "option 'store' must be a URL"
}

@test "bad config: a binary that does not exist fails pre-command, naming the option" {
  export BUILDKITE_PLUGIN_CARGO_STASH_BINARY="$WORK/no/such/cargo-stash"
  dir="$(clone)"
  run restore_only "$dir"
  assert_failure 2
  assert_output --partial "option 'binary' names '$WORK/no/such/cargo-stash'"
}

@test "first build: restore misses, the command builds, post-command saves on success" {
  dir="$(clone)"
  run step "$dir" "cargo build --locked"
  assert_success
  assert_output --partial "cache miss for"
  assert_output --partial "command exited with 0"
  assert_output --partial "cargo-stash: saved $P_KEY-"
  [ "$(snapshots "$PROTECTED")" = 1 ]
  run cat "$AGENT_LOG"
  assert_line "meta-data set cargo-stash:test$BATS_TEST_NUMBER:restore miss"
  assert_line --partial "annotate --style warning --context cargo-stash-test$BATS_TEST_NUMBER"
  assert_line "meta-data set cargo-stash:test$BATS_TEST_NUMBER:save saved"
}

@test "fresh clone: exact hit, every registry unit fresh, save skips the exact hit" {
  dir="$(clone)"
  run step "$dir" "cargo build --locked --message-format=json >cargo-build.json"
  assert_success
  assert_output --partial "exact hit: restored $P_KEY-"
  assert_output --partial "nothing to save"
  run "$STASH_PYTHON" - "$dir/cargo-build.json" <<'PY'
import json, sys
units = [m for m in map(json.loads, open(sys.argv[1])) if m.get("reason") == "compiler-artifact"]
reg = [u for u in units if "registry+" in u["package_id"]]
stale = [u["package_id"] for u in reg if not u["fresh"]]
print(f"{len(reg) - len(stale)}/{len(reg)} registry units fresh; stale: {stale}")
sys.exit(0 if reg and not stale else 1)
PY
  assert_success
  [ "$(snapshots "$PROTECTED")" = 1 ]
  run cat "$AGENT_LOG"
  assert_line "meta-data set cargo-stash:test$BATS_TEST_NUMBER:restore exact"
  assert_line "meta-data set cargo-stash:test$BATS_TEST_NUMBER:save skipped-exact-hit"
}

@test "failed command: post-command does not save" {
  export BUILDKITE_PLUGIN_CARGO_STASH_SUFFIX=failing
  dir="$(clone)"
  run step "$dir" "cargo build --locked && exit 1"
  assert_success
  assert_output --partial "fallback hit"
  assert_output --partial "the command exited with 1: not saving"
  [ "$(snapshots "$PROTECTED")" = 1 ]
  run grep -c ':save ' "$AGENT_LOG"
  assert_output 0
}

@test "failed command with save-on-failure: true: post-command saves" {
  export BUILDKITE_PLUGIN_CARGO_STASH_SUFFIX=failing BUILDKITE_PLUGIN_CARGO_STASH_SAVE_ON_FAILURE=true
  dir="$(clone)"
  run step "$dir" "cargo build --locked && exit 1"
  assert_success
  assert_output --partial "command exited with 1"
  assert_output --partial "cargo-stash: saved $P_KEY-"
  [ "$(snapshots "$PROTECTED")" = 2 ]
}

@test "policy pull: restores, never saves" {
  export BUILDKITE_PLUGIN_CARGO_STASH_SUFFIX=lint BUILDKITE_PLUGIN_CARGO_STASH_POLICY=pull
  dir="$(clone)"
  run step "$dir" "cargo build --locked"
  assert_success
  assert_output --partial "fallback hit"
  assert_output --partial "policy pull: not saving"
  [ "$(snapshots "$PROTECTED")" = 2 ]
}

@test "policy push: pre-command does not restore" {
  export BUILDKITE_PLUGIN_CARGO_STASH_POLICY=push
  dir="$(clone)"
  run restore_only "$dir"
  assert_success
  assert_output --partial "policy push: not restoring"
  [ ! -e "$dir/target" ]
}

@test "strict: a miss fails pre-command with exit 3" {
  export BUILDKITE_PLUGIN_CARGO_STASH_PREFIX=nothing-here BUILDKITE_PLUGIN_CARGO_STASH_STRICT=true
  dir="$(clone)"
  run restore_only "$dir"
  assert_failure 3
  assert_output --partial "strict option is true"
  run cat "$AGENT_LOG"
  assert_line --partial "annotate --style error"
}

@test "pull-request builds are kept apart: unprotected- keys miss the branch snapshots" {
  export BUILDKITE_PULL_REQUEST=17 BUILDKITE_PLUGIN_CARGO_STASH_POLICY=pull
  dir="$(clone)"
  run restore_only "$dir"
  assert_success
  assert_output --partial "key prefix '$UNPROTECTED'"
  assert_output --partial "cache miss for $(key_prefix "$UNPROTECTED")-"
}

@test "an untrusted build (a pull request, maybe from a fork) saves, but never where protected builds read" {
  export BUILDKITE_PULL_REQUEST=18 BUILDKITE_PULL_REQUEST_REPO=https://example.invalid/fork/fixture.git
  dir="$(clone)"
  run step "$dir" "cargo build --locked"
  assert_success
  assert_output --partial "cargo-stash: saved $(key_prefix "$UNPROTECTED")-"
  [ "$(snapshots "$UNPROTECTED")" = 1 ]
  [ "$(snapshots "$PROTECTED")" = 2 ]
}

@test "protected-branches: other branches are unprotected, listed ones (globs) protected" {
  export BUILDKITE_PLUGIN_CARGO_STASH_POLICY=pull BUILDKITE_BRANCH=feature/x
  run bash -c '. "$BK_ROOT/hooks/environment"'
  assert_success
  assert_output --partial "key prefix '$UNPROTECTED'"
  export BUILDKITE_BRANCH=release/1.2 BUILDKITE_PLUGIN_CARGO_STASH_PROTECTED_BRANCHES_0=main \
    BUILDKITE_PLUGIN_CARGO_STASH_PROTECTED_BRANCHES_1='release/*'
  run bash -c '. "$BK_ROOT/hooks/environment"'
  assert_success
  assert_output --partial "key prefix '$PROTECTED'"
}

@test "another pipeline sharing the bucket misses this one's snapshots" {
  export BUILDKITE_PIPELINE_SLUG=other BUILDKITE_PLUGIN_CARGO_STASH_POLICY=pull
  dir="$(clone)"
  run restore_only "$dir"
  assert_success
  assert_output --partial "key prefix 'protected-acme.other-fixture'"
  assert_output --partial "cache miss for"
  export BUILDKITE_PLUGIN_CARGO_STASH_PROJECT=acme.fixture
  run restore_only "$dir"
  assert_success
  assert_output --partial "exact hit: restored $P_KEY-"
}

@test "options are read under the name the pipeline gives the plugin (BUILDKITE_PLUGIN_NAME)" {
  local v
  while IFS= read -r v; do unset "$v"; done < <(compgen -e | grep '^BUILDKITE_PLUGIN_CARGO_STASH_')
  export BUILDKITE_PLUGIN_NAME=STASH BUILDKITE_PLUGIN_STASH_STORE="$BK_STORE" \
    BUILDKITE_PLUGIN_STASH_BINARY="$STASH_BIN" BUILDKITE_PLUGIN_STASH_PREFIX=fixture
  dir="$(clone)"
  run restore_only "$dir"
  assert_success
  assert_output --partial "exact hit: restored $P_KEY-"
  export BUILDKITE_PLUGIN_STASH_POLICY=sometimes
  run "$BK_ROOT/hooks/environment"
  assert_failure 2
  assert_output --partial "option 'policy' must be pull, push or pull-push"
}

# A stand-in cargo on PATH: records `cargo install` calls and installs our binary, or with
# STASH_IMPOSTOR a binary that says it is something else; other commands go to cargo.
fake_cargo() {
  mkdir -p "$WORK/fake"
  cat >"$WORK/fake/cargo" <<'SH'
#!/bin/sh
if [ "$1" = install ]; then
  printf '%s\n' "$*" >>"$STASH_FAKE_LOG"
  mkdir -p "$CARGO_HOME/bin"
  if [ -n "${STASH_IMPOSTOR:-}" ]; then
    printf '#!/bin/sh\necho cargo-stow 0.0.1\n' >"$CARGO_HOME/bin/cargo-stash"
    chmod +x "$CARGO_HOME/bin/cargo-stash"
  else
    cp "$STASH_BIN" "$CARGO_HOME/bin/cargo-stash"
  fi
  exit 0
fi
exec "$STASH_REAL_CARGO" "$@"
SH
  chmod +x "$WORK/fake/cargo"
  STASH_REAL_CARGO="$(command -v cargo)" STASH_FAKE_LOG="$WORK/fake/install.log"
  export STASH_REAL_CARGO STASH_FAKE_LOG
  rm -f "$STASH_FAKE_LOG"
  PATH="$WORK/fake:$PATH"
}

@test "no binary: installs exactly the pinned cargo-stash with --locked, checks it, restores" {
  unset BUILDKITE_PLUGIN_CARGO_STASH_BINARY
  export BUILDKITE_PLUGIN_CARGO_STASH_CARGO_HOME="$WORK/install-home$BATS_TEST_NUMBER"
  fake_cargo
  dir="$(clone)"
  run restore_only "$dir"
  assert_success
  assert_output --partial "cache miss for"
  run cat "$STASH_FAKE_LOG"
  assert_output "install cargo-stash --version =0.1.0 --locked --force --quiet"
}

@test "an installed binary that is not cargo-stash is refused and the cache skipped" {
  unset BUILDKITE_PLUGIN_CARGO_STASH_BINARY
  export BUILDKITE_PLUGIN_CARGO_STASH_CARGO_HOME="$WORK/install-home$BATS_TEST_NUMBER" STASH_IMPOSTOR=1
  fake_cargo
  dir="$(clone)"
  run restore_only "$dir"
  assert_success
  assert_output --partial "is not cargo-stash"
  assert_output --partial "the cache is skipped"
  refute_output --partial "cache miss for"
}

@test "without buildkite-agent on PATH the hooks work and call nothing" {
  export BUILDKITE_PLUGIN_CARGO_STASH_PREFIX=nothing-here
  PATH="${PATH#"$WORK/bin:"}"
  run command -v buildkite-agent
  assert_failure
  dir="$(clone)"
  run restore_only "$dir"
  assert_success
  assert_output --partial "cache miss"
  [ ! -s "$AGENT_LOG" ]
}

@test "CARGO_HOME under the agents' build path is replaced by a stable one" {
  export BUILDKITE_BUILD_PATH="$WORK/builds" CARGO_HOME="$WORK/builds/agent-1/org/pipeline/.cargo"
  run bash -c '. "$BK_ROOT/hooks/environment" && echo "CARGO_HOME is $CARGO_HOME"'
  assert_success
  assert_output --partial "is under $WORK/builds, whose path differs between agents"
  assert_output --partial "CARGO_HOME is $HOME/.cargo"
  export BUILDKITE_PLUGIN_CARGO_STASH_CARGO_HOME="$STASH_CARGO_HOME"
  run bash -c '. "$BK_ROOT/hooks/environment" && echo "CARGO_HOME is $CARGO_HOME"'
  assert_success
  assert_output --partial "CARGO_HOME is $STASH_CARGO_HOME"
}

@test "every integration pins the crate's own version (a release bumps them together)" {
  local version
  version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$REPO_ROOT/Cargo.toml" | head -n 1)"
  run grep -c "^STASH_VERSION_PIN=$version\$" "$BK_ROOT/lib/cargo-stash.bash"
  assert_output 1
  run "$STASH_PYTHON" - "$REPO_ROOT" "$version" <<'PY'
import re, sys, yaml
root, version = sys.argv[1], sys.argv[2]
spec = next(yaml.safe_load_all(open(f"{root}/ci-templates/gitlab/templates/cargo-stash.yml")))
pins = {"gitlab input": spec["spec"]["inputs"]["version"]["default"]}
for f in ("action.yml", "restore/action.yml", "save/action.yml"):
    pins[f"github {f}"] = str(yaml.safe_load(open(f"{root}/ci-templates/github/{f}"))["inputs"]["version"]["default"])
pins["github config.mjs"] = re.search(r"PINNED_VERSION = '([^']+)'", open(f"{root}/ci-templates/github/src/config.mjs").read()).group(1)
pins["gitlab script fallback"] = re.search(r"CARGO_STASH_IN_VERSION:-([0-9.]+)\}", open(f"{root}/ci-templates/gitlab/templates/cargo-stash.yml").read()).group(1)
bad = {k: v for k, v in pins.items() if v != version}
print(bad or f"all pin {version}")
sys.exit(1 if bad else 0)
PY
  assert_success
  assert_output "all pin $version"
}
