#!/usr/bin/env bash
# Runs the GitLab template for real: gitlab-ci-local (shell executor, no image) runs the
# example pipeline (example/.gitlab-ci.yml, which includes ../cargo-stash.yml) in fresh
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

# The project: the fixture, the template as a local include, the example pipeline.
origin="$work/origin"
cp -r "$root/tests/fixtures/workspace" "$origin"
rm -rf "$origin/target"
mkdir -p "$origin/ci"
cp "$here/../cargo-stash.yml" "$origin/ci/cargo-stash.yml"
cp "$here/example/.gitlab-ci.yml" "$origin/.gitlab-ci.yml"
printf '/target/\n/.gitlab-ci-local/\n/cargo-build.json\n' >"$origin/.gitignore"
git -C "$origin" init -q -b main
git -C "$origin" add -A
git -C "$origin" -c user.name=test -c user.email=test@example.invalid commit -q -m fixture

clones=0
# run_job NAME LOG [gitlab-ci-local args...]: a fresh clone, one job; exit code of gcl.
run_job() {
  local job="$1" log="$2"
  shift 2
  clones=$((clones + 1))
  local dir="$work/clone$clones"
  git clone -q "$origin" "$dir"
  # gitlab-ci-local reads group/project from this remote; it is never contacted.
  git -C "$dir" remote add gcl-origin https://gitlab.example.invalid/stash/fixture.git
  last_clone="$dir"
  (cd "$dir" && "$gcl" --shell-executor-no-image --no-color --max-job-name-padding 0 \
    "$@" "$job") >"$log" 2>&1 </dev/null
}

# snapshots PREFIX: how many target snapshots the store holds under that key prefix.
snapshots() {
  (cd "$origin" && "$STASH_BIN" ls --json --prefix "$1") |
    python3 -c 'import json,sys; print(sum(1 for s in json.load(sys.stdin)["snapshots"] if s["layer"]=="target"))'
}

# Keys are sanitized by cargo-stash (`-` in a prefix becomes `_`); ask it for the real one.
key_prefix="$(cd "$origin" && CARGO_HOME="$STASH_CARGO_HOME" "$STASH_BIN" key --json --prefix unprotected-fixture |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target"]["key"].split("-stash1-")[0])')"
protected_prefix="${key_prefix/unprotected/protected}"

# 0. The template's shell is POSIX sh: shellcheck it, and run its setup under dash.
"${STASH_PYTHON:-python3}" - "$here/../cargo-stash.yml" "$work/lib.sh" <<'EOF'
import sys, yaml
job = yaml.safe_load(open(sys.argv[1]))[".cargo-stash"]
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

# 4. flaky: a failed job does not save ...
t0=$SECONDS
if ! run_job flaky "$work/flaky.log" && grep -q "job status failed: not saving" "$work/flaky.log" &&
  [[ "$(snapshots "$key_prefix")" == 1 ]]; then
  ok "failed job: after_script sees CI_JOB_STATUS=failed and does not save ($((SECONDS - t0)) s)"
else
  not_ok "failed job does not save (snapshots: $(snapshots "$key_prefix"))" "$work/flaky.log"
fi

# 5. ... unless CARGO_STASH_SAVE_ON_FAILURE is true.
t0=$SECONDS
if ! run_job flaky "$work/flaky-save.log" --variable CARGO_STASH_SAVE_ON_FAILURE=true &&
  [[ "$(snapshots "$key_prefix")" == 2 ]]; then
  ok "failed job with CARGO_STASH_SAVE_ON_FAILURE=true saves its own snapshot ($((SECONDS - t0)) s)"
else
  not_ok "failed job with CARGO_STASH_SAVE_ON_FAILURE=true saves (snapshots: $(snapshots "$key_prefix"))" "$work/flaky-save.log"
fi

# 6. A protected ref neither sees nor writes the unprotected snapshots.
t0=$SECONDS
if run_job restore-only "$work/protected.log" --variable CI_COMMIT_REF_PROTECTED=true \
  --ignore-predefined-vars CI_COMMIT_REF_PROTECTED &&
  grep -q "key prefix 'protected-fixture'" "$work/protected.log" && grep -q "cache miss" "$work/protected.log" &&
  [[ "$(snapshots "$protected_prefix")" == 0 ]]; then
  ok "protected ref: key prefix protected-fixture, misses the unprotected snapshots ($((SECONDS - t0)) s)"
else
  not_ok "protected ref is kept apart from unprotected snapshots" "$work/protected.log"
fi

# 7. A bad setting fails the job with a message naming it.
if ! run_job build "$work/bad.log" --variable CARGO_STASH_POLICY=sometimes &&
  grep -q "CARGO_STASH_POLICY must be pull, push or pull-push, not 'sometimes'" "$work/bad.log"; then
  ok "bad CARGO_STASH_POLICY fails the job and names the variable"
else
  not_ok "bad CARGO_STASH_POLICY fails the job and names the variable" "$work/bad.log"
fi

echo "# gitlab: $((n - failed)) passed, $failed failed"
[[ $failed == 0 ]]
