#!/usr/bin/env bash
# Runs the GitLab component for real: gitlab-ci-local (shell executor, no image) runs the
# example pipeline (example/.gitlab-ci.yml, which includes ../templates/cargo-stash.yml as
# a component of the project under test, with inputs) in fresh
# clones of tests/fixtures/workspace, against the real cargo-stash binary and SeaweedFS.
# Prints TAP lines (`ok N - ...` / `not ok N - ...`); exits non-zero if any failed.
#
# Needs (ci-templates/test.sh provides them): CARGO_STASH_TEST_S3 and the AWS_* variables
# of target/servers.env in the environment, STASH_BIN (the cargo-stash binary), STASH_WORK (a
# scratch dir), STASH_CARGO_HOME (a CARGO_HOME shared by the jobs, as on one runner).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
gcl="$here/node_modules/.bin/gitlab-ci-local"
: "${STASH_BIN:?}" "${STASH_WORK:?}" "${STASH_CARGO_HOME:?}" "${CARGO_STASH_TEST_S3:?}"

work="$STASH_WORK/gitlab"
rm -rf "$work"
mkdir -p "$work"
store="$CARGO_STASH_TEST_S3/ci-gitlab-$(date +%s)-$$"

# What a project's CI/CD settings would hold. Nothing else of ours leaks in.
while IFS= read -r v; do unset "$v"; done < <(compgen -e | grep '^CARGO_STASH_' || true)
export CARGO_STASH_STORE="$store" CARGO_STASH_BIN="$STASH_BIN" CARGO_STASH_CARGO_HOME="$STASH_CARGO_HOME"
export CARGO_TERM_COLOR=never

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
  n=$((n + 1))
  failed=$((failed + 1))
  echo "not ok $n - $1"
  shift
  for f in "$@"; do
    [[ -f "$f" ]] || continue
    echo "# --- last lines of $f"
    tail -n 40 "$f" | sed 's/^/# /'
  done
}

# The `include: remote` form: the same file served over HTTP on 127.0.0.1, stopped by PID.
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
python3 -m http.server --bind 127.0.0.1 --directory "$here/.." "$port" >"$work/http.log" 2>&1 &
http_pid=$!
trap 'kill "$http_pid" 2>/dev/null || true' EXIT

# The project: the fixture, the component in templates/ (as in a component project), the
# example pipeline, and a pipeline that includes the component by URL.
origin="$work/origin"
cp -r "$root/tests/fixtures/workspace" "$origin"
rm -rf "$origin/target"
mkdir -p "$origin/templates"
cp "$here/../templates/cargo-stash.yml" "$origin/templates/cargo-stash.yml"
cp "$here/example/.gitlab-ci.yml" "$origin/.gitlab-ci.yml"
cat >"$origin/remote.gitlab-ci.yml" <<EOF
include:
  - remote: http://127.0.0.1:$port/templates/cargo-stash.yml
    inputs:
      prefix: fixture
      policy: pull
restore-remote:
  extends: .cargo-stash
  script:
    - "true"
EOF
printf '/target/\n/.gitlab-ci-local/\n/cargo-build.json\n' >"$origin/.gitignore"
git -C "$origin" init -q -b main
git -C "$origin" add -A
git -C "$origin" -c user.name=test -c user.email=test@example.invalid commit -q -m fixture

clones=0
project=stash/fixture
# run_job NAME LOG [gitlab-ci-local args...]: a fresh clone, one job; exit code of gcl.
# The clone's remote names the project ($project, which becomes CI_PROJECT_PATH).
run_job() {
  local job="$1" log="$2"
  shift 2
  clones=$((clones + 1))
  local dir="$work/clone$clones"
  git clone -q "$origin" "$dir"
  # gitlab-ci-local reads group/project from this remote; it is never contacted.
  git -C "$dir" remote add gcl-origin "https://gitlab.example.invalid/$project.git"
  last_clone="$dir"
  (cd "$dir" && "$gcl" --shell-executor-no-image --no-color --max-job-name-padding 0 \
    "$@" "$job") >"$log" 2>&1 </dev/null
}

# snapshots PREFIX: how many target snapshots the store holds under that key prefix.
snapshots() {
  (cd "$origin" && "$STASH_BIN" ls --json --prefix "$1") |
    python3 -c 'import json,sys; print(sum(1 for s in json.load(sys.stdin)["snapshots"] if s["layer"]=="target"))'
}

# The project part of the prefix, as the component builds it: readable, plus a checksum
# of the exact path so that a/b_c and a_b/c stay apart.
ident() { printf '%s.%s' "$(printf '%s' "$1" | tr -c 'A-Za-z0-9._' '_')" "$(printf '%s' "$1" | cksum | cut -d ' ' -f 1)"; }
# Keys are sanitized by cargo-stash (`-` in a prefix becomes `_`); ask it for the real one.
real_prefix() {
  (cd "$origin" && CARGO_HOME="$STASH_CARGO_HOME" "$STASH_BIN" key --json --prefix "$1") |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target"]["key"].split("-stash1-")[0])'
}
key_prefix="$(real_prefix "unprotected-$(ident "$project")-fixture")"
protected_prefix="$(real_prefix "protected-$(ident "$project")-fixture")"
other_prefix="$(real_prefix "unprotected-$(ident other/project)-fixture")"

# 0. The component's spec and shell: every input typed, defaulted and described; the
# shell is POSIX sh: shellcheck it, and run its setup under dash.
"${STASH_PYTHON:-python3}" - "$here/../templates/cargo-stash.yml" "$work/lib.sh" <<'EOF'
import sys, yaml
spec, body = yaml.safe_load_all(open(sys.argv[1]))
for name, i in spec["spec"]["inputs"].items():
    assert i.get("description") and "default" in i, name
    assert i.get("type") in ("string", "boolean", "number", "array"), name
job = body[".cargo-stash"]
assert job["after_script"][0] == job["before_script"][0], "after_script must reuse the same functions"
open(sys.argv[2], "w").write("#!/bin/sh\n" + job["before_script"][0])
EOF
if shellcheck -s sh "$work/lib.sh" >"$work/shellcheck.log" 2>&1; then
  ok "the template's shell functions pass shellcheck -s sh"
else
  not_ok "the template's shell functions pass shellcheck -s sh" "$work/shellcheck.log"
fi
# shellcheck disable=SC2016 # the dash -c script expands its variables itself
if command -v dash >/dev/null; then
  if (cd "$origin" && CARGO_STASH_CARGO_HOME="$work/dash-home" CI_COMMIT_REF_PROTECTED=true CARGO_STASH_PREFIX=x \
    dash -c '. "$1" && set -e && cargo_stash_setup && echo "prefix=$CARGO_STASH_PREFIX home=$CARGO_HOME bin=$cargo_stash_bin"' \
    sh "$work/lib.sh") >"$work/dash.log" 2>&1 &&
    grep -qx "prefix=protected-x home=$work/dash-home bin=$STASH_BIN" "$work/dash.log"; then
    ok "the template's setup runs under dash (POSIX sh)"
  else
    not_ok "the template's setup runs under dash (POSIX sh)" "$work/dash.log"
  fi
fi

# 1. build: cold, saves.
t0=$SECONDS
if run_job build "$work/build.log" && grep -q "cache miss" "$work/build.log" &&
  [[ "$(snapshots "$key_prefix")" == 1 ]]; then
  ok "build job: restore misses, cargo build, after_script saves one snapshot under '$key_prefix' ($((SECONDS - t0)) s)"
else
  not_ok "build job saves a snapshot (snapshots under $key_prefix: $(snapshots "$key_prefix"))" "$work/build.log"
fi
clone_build="$last_clone"

# 2. test: a fresh clone elsewhere restores; every registry unit is fresh.
t0=$SECONDS
if run_job test "$work/test.log"; then
  if [[ "$last_clone" != "$clone_build" ]] && grep -q "exact hit" "$work/test.log" && verdict="$(python3 - "$last_clone/cargo-build.json" <<'EOF'
import json, sys
reg, fresh, members, members_fresh = 0, 0, 0, 0
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("reason") != "compiler-artifact":
        continue
    if "registry+" in m["package_id"]:
        reg += 1
        fresh += m["fresh"]
    else:
        members += 1
        members_fresh += m["fresh"]
print(f"{fresh}/{reg} registry units fresh, {members_fresh}/{members} member units fresh")
sys.exit(0 if reg > 0 and fresh == reg else 1)
EOF
  )"; then
    if grep -q "skipped-exact-hit\|nothing to save" "$work/test.log" && [[ "$(snapshots "$key_prefix")" == 1 ]]; then
      ok "test job in a fresh clone: exact hit, $verdict; save skips the exact hit ($((SECONDS - t0)) s)"
    else
      not_ok "test job: save after an exact hit should skip (snapshots: $(snapshots "$key_prefix"))" "$work/test.log"
    fi
  else
    not_ok "test job: every registry unit fresh (${verdict:-no cargo-build.json})" "$work/test.log"
  fi
else
  not_ok "test job succeeds" "$work/test.log"
fi

# 3. lint: policy pull restores (falls back from its own suffix) and never saves.
t0=$SECONDS
if run_job lint "$work/lint.log" && grep -q "fallback hit" "$work/lint.log" &&
  grep -q "policy pull: not saving" "$work/lint.log" && [[ "$(snapshots "$key_prefix")" == 1 ]]; then
  ok "lint job (policy pull): restores, does not save, store still holds 1 snapshot ($((SECONDS - t0)) s)"
else
  not_ok "lint job (policy pull) restores and does not save (snapshots: $(snapshots "$key_prefix"))" "$work/lint.log"
fi

# 3b. The same component included by URL (`include: remote`), with inputs.
if run_job restore-remote "$work/remote.log" --file remote.gitlab-ci.yml &&
  grep -q "policy pull" "$work/remote.log" && grep -q "exact hit" "$work/remote.log"; then
  ok "include: remote of templates/cargo-stash.yml with inputs: exact hit, policy pull from the input"
else
  not_ok "include: remote works" "$work/remote.log" "$work/http.log"
fi

# 4. flaky: a failed job does not save ...
t0=$SECONDS
if ! run_job flaky "$work/flaky.log" && grep -q "job status failed: not saving" "$work/flaky.log" &&
  [[ "$(snapshots "$key_prefix")" == 1 ]]; then
  ok "failed job: after_script sees CI_JOB_STATUS=failed and does not save ($((SECONDS - t0)) s)"
else
  not_ok "failed job does not save (snapshots: $(snapshots "$key_prefix"))" "$work/flaky.log"
fi

# 5. ... unless CARGO_STASH_WHEN is on_failure (as cache:when) ...
t0=$SECONDS
if ! run_job flaky "$work/flaky-save.log" --variable CARGO_STASH_WHEN=on_failure &&
  [[ "$(snapshots "$key_prefix")" == 2 ]]; then
  ok "failed job with CARGO_STASH_WHEN=on_failure saves its own snapshot ($((SECONDS - t0)) s)"
else
  not_ok "failed job with CARGO_STASH_WHEN=on_failure saves (snapshots: $(snapshots "$key_prefix"))" "$work/flaky-save.log"
fi
# ... and a successful job with on_failure does not.
if run_job build "$work/build-on-failure.log" --variable CARGO_STASH_WHEN=on_failure --variable CARGO_STASH_SUFFIX=onf &&
  grep -q "job status success: not saving (when: on_failure)" "$work/build-on-failure.log" &&
  [[ "$(snapshots "$key_prefix")" == 2 ]]; then
  ok "successful job with CARGO_STASH_WHEN=on_failure does not save"
else
  not_ok "successful job with CARGO_STASH_WHEN=on_failure does not save" "$work/build-on-failure.log"
fi

# 6. A protected ref neither sees nor writes the unprotected snapshots.
t0=$SECONDS
if run_job restore-only "$work/protected.log" --variable CI_COMMIT_REF_PROTECTED=true \
  --ignore-predefined-vars CI_COMMIT_REF_PROTECTED &&
  grep -q "key prefix 'protected-$(ident "$project")-fixture'" "$work/protected.log" && grep -q "cache miss" "$work/protected.log" &&
  [[ "$(snapshots "$protected_prefix")" == 0 ]]; then
  ok "protected ref: key prefix protected-<project>-fixture, misses the unprotected snapshots ($((SECONDS - t0)) s)"
else
  not_ok "protected ref is kept apart from unprotected snapshots" "$work/protected.log"
fi

# 6b. Another project sharing the bucket (same inputs, same Cargo.lock) misses, and its
# save lands under its own prefix.
t0=$SECONDS
if project=other/project run_job test "$work/other.log" && grep -q "cache miss" "$work/other.log" &&
  [[ "$(snapshots "$other_prefix")" == 1 && "$(snapshots "$key_prefix")" == 2 ]]; then
  ok "another project on the same bucket misses stash/fixture's snapshots, saves under its own prefix ($((SECONDS - t0)) s)"
else
  not_ok "another project on the same bucket is kept apart (its snapshots: $(snapshots "$other_prefix"))" "$work/other.log"
fi

# 6c. An unprotected ref (a merge request) never writes where protected refs read: after
# all the unprotected saves above, the protected prefix is still empty.
if [[ "$(snapshots "$protected_prefix")" == 0 && "$(snapshots "$key_prefix")" -ge 1 ]]; then
  ok "unprotected jobs saved $(snapshots "$key_prefix") snapshots, none under the protected prefix"
else
  not_ok "unprotected jobs wrote under the protected prefix ($(snapshots "$protected_prefix"))"
fi

# 6d. The pinned install: with no binary anywhere the component runs exactly
# `cargo install cargo-stash --version =<pin> --locked` and checks what it got. A stand-in
# cargo records the call (crates.io has no cargo-stash release yet) and installs either
# our binary or an impostor, which must be refused.
fake="$work/fake-cargo"
mkdir -p "$fake"
real_cargo="$(command -v cargo)"
cat >"$fake/cargo" <<'SH'
#!/bin/sh
# Stand-in: records `cargo install` calls; everything else goes to the real cargo.
if [ "$1" = install ]; then
  printf '%s\n' "$*" >>"$STASH_FAKE_LOG"
  mkdir -p "$CARGO_HOME/bin"
  if [ -n "${STASH_IMPOSTOR:-}" ]; then
    printf '#!/bin/sh\necho cargo-stow 0.0.1\n' >"$CARGO_HOME/bin/cargo-stash"
    chmod +x "$CARGO_HOME/bin/cargo-stash"
  else
    cp "$STASH_FAKE_BIN" "$CARGO_HOME/bin/cargo-stash"
  fi
  exit 0
fi
exec "$STASH_REAL_CARGO" "$@"
SH
export STASH_FAKE_LOG="$work/cargo-install.args" STASH_FAKE_BIN="$STASH_BIN" STASH_REAL_CARGO="$real_cargo"
chmod +x "$fake/cargo"
saved_bin="$CARGO_STASH_BIN" saved_home="$CARGO_STASH_CARGO_HOME" saved_path="$PATH"
unset CARGO_STASH_BIN
export PATH="$fake:$PATH" CARGO_STASH_CARGO_HOME="$work/install-home"
if run_job restore-only "$work/install.log" &&
  [[ "$(cat "$work/cargo-install.args" 2>/dev/null)" == "install cargo-stash --version =0.1.0 --locked --force --quiet" ]] &&
  grep -q "cache miss\|exact hit\|fallback hit" "$work/install.log"; then
  ok "no binary: installs exactly cargo-stash =0.1.0 --locked, checks its version, restores"
else
  not_ok "no binary: pinned install (cargo install args: $(cat "$work/cargo-install.args" 2>/dev/null))" "$work/install.log"
fi
rm -rf "$work/install-home"
if STASH_IMPOSTOR=1 run_job restore-only "$work/impostor.log" &&
  grep -q "is not cargo-stash" "$work/impostor.log" && grep -q "the cache is skipped" "$work/impostor.log" &&
  ! grep -q "cache miss\|exact hit\|fallback hit" "$work/impostor.log"; then
  ok "an installed binary that is not cargo-stash (prints 'cargo-stow 0.0.1') is refused, the cache skipped"
else
  not_ok "an impostor binary is refused" "$work/impostor.log"
fi
export CARGO_STASH_BIN="$saved_bin" CARGO_STASH_CARGO_HOME="$saved_home" PATH="$saved_path"

# 7. A bad setting fails the job with a message naming it.
if ! run_job build "$work/bad.log" --variable CARGO_STASH_POLICY=sometimes &&
  grep -q "CARGO_STASH_POLICY must be pull, push or pull-push, not 'sometimes'" "$work/bad.log"; then
  ok "bad CARGO_STASH_POLICY fails the job and names the variable"
else
  not_ok "bad CARGO_STASH_POLICY fails the job and names the variable" "$work/bad.log"
fi

echo "# gitlab: $((n - failed)) passed, $failed failed"
[[ $failed == 0 ]]
