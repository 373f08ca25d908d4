#!/usr/bin/env bash
# Shared by the cargo-stash plugin's hooks: reads and checks the plugin's options
# (BUILDKITE_PLUGIN_<NAME>_<OPTION>), finds the binary, runs it, reports.
# Sourced, not run.
# shellcheck disable=SC2034 # the stash_* globals set here are read by the hooks

# The cargo-stash release this plugin release installs when no binary is given or found.
STASH_VERSION_PIN=0.1.0

stash_log() { printf 'cargo-stash: %s\n' "$*" >&2; }
stash_err() { printf 'cargo-stash: error: %s\n' "$*" >&2; }

# The agent names option variables after the plugin as the pipeline refers to it (a
# vendored copy in .buildkite/plugins/stash gets BUILDKITE_PLUGIN_STASH_*) and tells
# the hooks that name in BUILDKITE_PLUGIN_NAME.
stash_env_prefix() { printf 'BUILDKITE_PLUGIN_%s_' "${BUILDKITE_PLUGIN_NAME:-CARGO_STASH}"; }

stash_var() { # option-name -> the env var the agent sets for it
  local name="${1//-/_}"
  printf '%s%s' "$(stash_env_prefix)" "${name^^}"
}

stash_opt() { # option-name [default] -> its value
  local var
  var="$(stash_var "$1")"
  printf '%s' "${!var:-${2:-}}"
}

stash_bool() { # option-name default -> prints true|false, or fails naming the option
  local v
  v="$(stash_opt "$1" "$2")"
  case "$v" in
    true | True | TRUE | 1 | yes | on) echo true ;;
    false | False | FALSE | 0 | no | off) echo false ;;
    *)
      stash_err "option '$1' must be true or false, not '$v'"
      return 2
      ;;
  esac
}

stash_list() { # option-name -> one value a line, from a string (commas/spaces) or an array
  local var i item
  var="$(stash_var "$1")"
  if [[ -n "${!var:-}" ]]; then
    tr -s ', ' '\n' <<<"${!var}" | sed '/^$/d'
  fi
  for ((i = 0; ; i++)); do
    item="${var}_${i}"
    [[ -n "${!item+set}" ]] || break
    printf '%s\n' "${!item}"
  done
}

STASH_OPTIONS=(store prefix project suffix policy save-on-failure strict unprotect protected-branches
  binary install version cargo-home manifest-path profile target env-vars jobs exact no-mtime
  keep-unused annotate)

stash_ident() { # text -> key-safe: [A-Za-z0-9._], the rest as _
  local s="$1"
  printf '%s' "${s//[^A-Za-z0-9._]/_}"
}

# Whether this build may write where protected builds read: not a pull request (its code
# may come from a fork), and a branch matching protected-branches (default: the
# pipeline's default branch), as GitLab's protected branches.
stash_trusted() {
  [[ -z "${BUILDKITE_PULL_REQUEST:-}" || "${BUILDKITE_PULL_REQUEST}" == false ]] || return 1
  local branch="${BUILDKITE_BRANCH:-}" pattern
  [[ -n "$branch" ]] || return 1
  while IFS= read -r pattern; do
    # shellcheck disable=SC2053 # the pattern is a glob on purpose (release/*)
    [[ -n "$pattern" && "$branch" == $pattern ]] && return 0
  done < <(stash_list protected-branches | grep . || printf '%s\n' "${BUILDKITE_PIPELINE_DEFAULT_BRANCH:-main}")
  return 1
}

# Reads every option; on a bad one prints an error naming it and returns 2.
# Sets stash_policy, stash_save_on_failure, stash_annotate, stash_prefix, stash_args (common
# arguments of restore and save) and exports CARGO_HOME, CARGO_STASH_STRICT, CARGO_STASH_STORE.
stash_config() {
  local known=" " o var name
  for o in "${STASH_OPTIONS[@]}"; do known+="$(stash_var "$o") "; done
  while IFS= read -r var; do
    name="${var%%=*}"
    # Array items come as NAME_0, NAME_1 ...
    if [[ "$known" != *" ${name} "* && "$known" != *" ${name%_[0-9]*} "* ]]; then
      o="${name#"$(stash_env_prefix)"}"
      o="${o,,}"
      stash_err "unknown option '${o//_/-}' (known: ${STASH_OPTIONS[*]})"
      return 2
    fi
  done < <(compgen -e | grep "^$(stash_env_prefix)" || true)

  stash_policy="$(stash_opt policy pull-push)"
  case "$stash_policy" in
    pull | push | pull-push) ;;
    *)
      stash_err "option 'policy' must be pull, push or pull-push, not '$stash_policy'"
      return 2
      ;;
  esac
  local strict unprotect
  strict="$(stash_bool strict false)" || return 2
  stash_save_on_failure="$(stash_bool save-on-failure false)" || return 2
  unprotect="$(stash_bool unprotect false)" || return 2
  stash_install="$(stash_bool install true)" || return 2
  stash_annotate="$(stash_bool annotate true)" || return 2
  local exact no_mtime keep_unused
  exact="$(stash_bool exact false)" || return 2
  no_mtime="$(stash_bool no-mtime false)" || return 2
  keep_unused="$(stash_bool keep-unused false)" || return 2
  export CARGO_STASH_STRICT="$strict"

  local jobs
  jobs="$(stash_opt jobs)"
  if [[ -n "$jobs" && ! "$jobs" =~ ^[1-9][0-9]*$ ]]; then
    stash_err "option 'jobs' must be a whole number of at least 1, not '$jobs'"
    return 2
  fi

  local store
  store="$(stash_opt store)"
  if [[ -n "$store" ]]; then
    if [[ ! "$store" =~ ^(s3|s3a|gs|az|azure|abfs|file)://. && "$store" != /* ]]; then
      stash_err "option 'store' must be a URL like s3://bucket/prefix, gs://..., az://... or file:///path, not '$store'"
      return 2
    fi
    export CARGO_STASH_STORE="$store"
  fi

  # CARGO_HOME's absolute path is in every registry unit's fingerprint: keep it stable.
  local home="${HOME:-/root}" cargo_home
  cargo_home="$(stash_opt cargo-home)"
  if [[ -n "$cargo_home" ]]; then
    if [[ "$cargo_home" != /* ]]; then
      stash_err "option 'cargo-home' must be an absolute path, not '$cargo_home'"
      return 2
    fi
  elif [[ -z "${CARGO_HOME:-}" ]]; then
    cargo_home="$home/.cargo"
  else
    cargo_home="$CARGO_HOME"
    local d
    for d in "${BUILDKITE_BUILD_PATH:-}" "${BUILDKITE_BUILD_CHECKOUT_PATH:-}"; do
      [[ -n "$d" && "$d" != / ]] || continue
      if [[ "$cargo_home/" == "${d%/}/"* ]]; then
        stash_log "warning: CARGO_HOME=$cargo_home is under $d, whose path differs between agents; using $home/.cargo (set the cargo-home option to choose)"
        cargo_home="$home/.cargo"
        break
      fi
    done
  fi
  export CARGO_HOME="$cargo_home"

  # The prefix: trust level, project, then the user's part. Pull requests and other
  # branches never write what protected branches restore; pipelines sharing a bucket
  # never restore each other's snapshots (unless given the same project).
  local user_prefix project
  user_prefix="$(stash_opt prefix)"
  if [[ "$user_prefix" == */* ]]; then
    stash_err "option 'prefix' must not contain '/', not '$user_prefix'"
    return 2
  fi
  stash_prefix=""
  if [[ "$unprotect" != true ]]; then
    if stash_trusted; then stash_prefix=protected; else stash_prefix=unprotected; fi
  fi
  project="$(stash_opt project)"
  if [[ -z "$project" && -n "${BUILDKITE_PIPELINE_SLUG:-}" ]]; then
    # Slugs are [a-z0-9-]: joined by '.', org and pipeline cannot run into another pair.
    project="${BUILDKITE_ORGANIZATION_SLUG:+$BUILDKITE_ORGANIZATION_SLUG.}$BUILDKITE_PIPELINE_SLUG"
  fi
  [[ -n "$project" ]] && stash_prefix="${stash_prefix:+$stash_prefix-}$(stash_ident "$project")"
  [[ -n "$user_prefix" ]] && stash_prefix="${stash_prefix:+$stash_prefix-}$user_prefix"

  stash_args=()
  [[ -n "$stash_prefix" ]] && stash_args+=(--prefix "$stash_prefix")
  local v
  v="$(stash_opt suffix)" && [[ -n "$v" ]] && stash_args+=(--suffix "$v")
  v="$(stash_opt profile)" && [[ -n "$v" ]] && stash_args+=(--profile "$v")
  v="$(stash_opt manifest-path)" && [[ -n "$v" ]] && stash_args+=(--manifest-path "$v")
  [[ -n "$jobs" ]] && stash_args+=(--jobs "$jobs")
  while IFS= read -r v; do stash_args+=(--target "$v"); done < <(stash_list target)
  while IFS= read -r v; do stash_args+=(--env-var "$v"); done < <(stash_list env-vars)
  stash_restore_args=()
  [[ "$exact" == true ]] && stash_restore_args+=(--exact)
  [[ "$no_mtime" == true ]] && stash_restore_args+=(--no-mtime)
  stash_save_args=()
  [[ "$keep_unused" == true ]] && stash_save_args+=(--keep-unused)
  return 0
}

# Sets stash_bin to the binary, or to "" when there is none and the cache is skipped.
# Returns non-zero on a bad `binary` option, or when strict and nothing is found.
stash_binary() {
  local bin want
  bin="$(stash_opt binary)"
  want="$(stash_opt version "$STASH_VERSION_PIN")"
  if [[ ! "$want" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$ ]]; then
    stash_err "option 'version' must be an exact version like $STASH_VERSION_PIN, not '$want'"
    return 2
  fi
  stash_bin=""
  if [[ -n "$bin" ]]; then
    if [[ ! -f "$bin" || ! -x "$bin" ]]; then
      stash_err "option 'binary' names '$bin', which is not an executable file"
      return 2
    fi
    stash_bin="$bin"
  elif command -v cargo-stash >/dev/null 2>&1; then
    stash_bin="$(command -v cargo-stash)"
  elif [[ -x "$CARGO_HOME/bin/cargo-stash" && "$(stash_version_of "$CARGO_HOME/bin/cargo-stash")" == "$want" ]]; then
    stash_bin="$CARGO_HOME/bin/cargo-stash"
  elif [[ "$stash_install" == true ]]; then
    # Only our crate, only the pinned version, only its locked dependencies.
    stash_log "installing cargo-stash $want: cargo install cargo-stash --version =$want --locked (preinstall it on the agent to skip this)"
    if cargo install cargo-stash --version "=$want" --locked --force --quiet; then
      stash_bin="$CARGO_HOME/bin/cargo-stash"
    fi
  fi
  if [[ -n "$stash_bin" ]]; then
    local have
    if ! have="$(stash_version_of "$stash_bin")"; then
      stash_err "$stash_bin is not cargo-stash: '$stash_bin --version' did not print 'cargo-stash <version>'"
      [[ -n "$bin" ]] && return 2
      stash_bin=""
    elif [[ "$have" != "$want" ]]; then
      stash_log "warning: $stash_bin is cargo-stash $have, this plugin release pins $want"
    fi
  fi
  if [[ -z "$stash_bin" ]]; then
    local msg="no cargo-stash binary (set the binary option, put cargo-stash on PATH, or allow install)"
    if [[ "$CARGO_STASH_STRICT" == true ]]; then
      stash_err "$msg"
      return 3
    fi
    stash_log "warning: $msg; the cache is skipped"
  fi
  return 0
}

stash_version_of() { # binary -> its version if it says it is cargo-stash, else fails
  local v
  v="$("$1" --version 2>/dev/null)" || return 1
  [[ "$v" =~ ^cargo-stash\ ([0-9][^[:space:]]*)$ ]] || return 1
  printf '%s' "${BASH_REMATCH[1]}"
}

stash_json_field() { # file field -> a top-level string field of cargo-stash's --json, or ""
  if ! command -v jq >/dev/null 2>&1; then
    stash_log "warning: jq is not on PATH (a requirement of this plugin): the outcome is not reported"
    return 0
  fi
  jq -r --arg f "$2" '.[$f] // empty | strings' "$1" 2>/dev/null || true
}

stash_agent() { # buildkite-agent args...: only when it is there; never fails the step
  [[ "$stash_annotate" == true ]] || return 0
  command -v buildkite-agent >/dev/null 2>&1 || return 0
  buildkite-agent "$@" || stash_log "warning: buildkite-agent $1 failed"
}

stash_step_id() { printf '%s' "${BUILDKITE_STEP_KEY:-${BUILDKITE_STEP_ID:-${BUILDKITE_JOB_ID:-local}}}"; }

# stash_run restore|save args...: runs the binary with --json, prints its summary, sets
# stash_json (its output file) and returns the exit code the hook should exit with.
stash_run() {
  local cmd="$1" rc=0
  shift
  stash_json="$(mktemp "${TMPDIR:-/tmp}/cargo-stash-$cmd.XXXXXX")"
  "$stash_bin" --json "$cmd" "${stash_args[@]}" "$@" >"$stash_json" || rc=$?
  case "$rc" in
    0) return 0 ;;
    2 | 4)
      stash_err "cargo-stash $cmd rejected its settings (exit $rc): check the plugin option named above"
      return "$rc"
      ;;
    3)
      stash_err "cargo-stash $cmd hit a cache problem and the strict option is true"
      return 3
      ;;
    *)
      if [[ "$CARGO_STASH_STRICT" == true ]]; then
        stash_err "cargo-stash $cmd failed (exit $rc)"
        return "$rc"
      fi
      stash_log "warning: cargo-stash $cmd failed (exit $rc); carrying on without the cache"
      return 0
      ;;
  esac
}
