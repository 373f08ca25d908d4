#!/usr/bin/env bash
# Shared by the cargo-stow plugin's hooks: reads and checks the plugin's options
# (BUILDKITE_PLUGIN_CARGO_STOW_<OPTION>), finds the binary, runs it, reports.
# Sourced, not run.
# shellcheck disable=SC2034 # the stow_* globals set here are read by the hooks

stow_log() { printf 'cargo-stow: %s\n' "$*" >&2; }
stow_err() { printf 'cargo-stow: error: %s\n' "$*" >&2; }

stow_var() { # option-name -> the env var the agent sets for it
  local name="${1//-/_}"
  printf 'BUILDKITE_PLUGIN_CARGO_STOW_%s' "${name^^}"
}

stow_opt() { # option-name [default] -> its value
  local var
  var="$(stow_var "$1")"
  printf '%s' "${!var:-${2:-}}"
}

stow_bool() { # option-name default -> prints true|false, or fails naming the option
  local v
  v="$(stow_opt "$1" "$2")"
  case "$v" in
    true | True | TRUE | 1 | yes | on) echo true ;;
    false | False | FALSE | 0 | no | off) echo false ;;
    *)
      stow_err "option '$1' must be true or false, not '$v'"
      return 2
      ;;
  esac
}

stow_list() { # option-name -> one value a line, from a string (commas/spaces) or an array
  local var i item
  var="$(stow_var "$1")"
  if [[ -n "${!var:-}" ]]; then
    tr -s ', ' '\n' <<<"${!var}" | sed '/^$/d'
  fi
  for ((i = 0; ; i++)); do
    item="${var}_${i}"
    [[ -n "${!item+set}" ]] || break
    printf '%s\n' "${!item}"
  done
}

STOW_OPTIONS=(store prefix suffix policy save-on-failure strict unprotect binary install version
  cargo-home manifest-path profile target env-vars jobs exact no-mtime keep-unused annotate)

# Reads every option; on a bad one prints an error naming it and returns 2.
# Sets stow_policy, stow_save_on_failure, stow_annotate, stow_prefix, stow_args (common
# arguments of restore and save) and exports CARGO_HOME, CARGO_STOW_STRICT, CARGO_STOW_STORE.
stow_config() {
  local known=" " o var name
  for o in "${STOW_OPTIONS[@]}"; do known+="$(stow_var "$o") "; done
  while IFS= read -r var; do
    name="${var%%=*}"
    # Array items come as NAME_0, NAME_1 ...
    if [[ "$known" != *" ${name} "* && "$known" != *" ${name%_[0-9]*} "* ]]; then
      o="${name#BUILDKITE_PLUGIN_CARGO_STOW_}"
      o="${o,,}"
      stow_err "unknown option '${o//_/-}' (known: ${STOW_OPTIONS[*]})"
      return 2
    fi
  done < <(compgen -e | grep '^BUILDKITE_PLUGIN_CARGO_STOW_' || true)

  stow_policy="$(stow_opt policy pull-push)"
  case "$stow_policy" in
    pull | push | pull-push) ;;
    *)
      stow_err "option 'policy' must be pull, push or pull-push, not '$stow_policy'"
      return 2
      ;;
  esac
  local strict unprotect
  strict="$(stow_bool strict false)" || return 2
  stow_save_on_failure="$(stow_bool save-on-failure false)" || return 2
  unprotect="$(stow_bool unprotect false)" || return 2
  stow_install="$(stow_bool install true)" || return 2
  stow_annotate="$(stow_bool annotate true)" || return 2
  local exact no_mtime keep_unused
  exact="$(stow_bool exact false)" || return 2
  no_mtime="$(stow_bool no-mtime false)" || return 2
  keep_unused="$(stow_bool keep-unused false)" || return 2
  export CARGO_STOW_STRICT="$strict"

  local jobs
  jobs="$(stow_opt jobs)"
  if [[ -n "$jobs" && ! "$jobs" =~ ^[1-9][0-9]*$ ]]; then
    stow_err "option 'jobs' must be a whole number of at least 1, not '$jobs'"
    return 2
  fi

  local store
  store="$(stow_opt store)"
  if [[ -n "$store" ]]; then
    if [[ ! "$store" =~ ^(s3|s3a|gs|az|azure|abfs|file)://. && "$store" != /* ]]; then
      stow_err "option 'store' must be a URL like s3://bucket/prefix, gs://..., az://... or file:///path, not '$store'"
      return 2
    fi
    export CARGO_STOW_STORE="$store"
  fi

  # CARGO_HOME's absolute path is in every registry unit's fingerprint: keep it stable.
  local home="${HOME:-/root}" cargo_home
  cargo_home="$(stow_opt cargo-home)"
  if [[ -n "$cargo_home" ]]; then
    if [[ "$cargo_home" != /* ]]; then
      stow_err "option 'cargo-home' must be an absolute path, not '$cargo_home'"
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
        stow_log "warning: CARGO_HOME=$cargo_home is under $d, whose path differs between agents; using $home/.cargo (set the cargo-home option to choose)"
        cargo_home="$home/.cargo"
        break
      fi
    done
  fi
  export CARGO_HOME="$cargo_home"

  # Pull requests (maybe from forks) never write what other builds restore.
  local user_prefix scope
  user_prefix="$(stow_opt prefix)"
  if [[ "$user_prefix" == */* ]]; then
    stow_err "option 'prefix' must not contain '/', not '$user_prefix'"
    return 2
  fi
  if [[ "$unprotect" == true ]]; then
    stow_prefix="$user_prefix"
  else
    if [[ -z "${BUILDKITE_PULL_REQUEST:-}" || "${BUILDKITE_PULL_REQUEST}" == false ]]; then
      scope=protected
    else
      scope=unprotected
    fi
    stow_prefix="${scope}${user_prefix:+-$user_prefix}"
  fi

  stow_args=()
  [[ -n "$stow_prefix" ]] && stow_args+=(--prefix "$stow_prefix")
  local v
  v="$(stow_opt suffix)" && [[ -n "$v" ]] && stow_args+=(--suffix "$v")
  v="$(stow_opt profile)" && [[ -n "$v" ]] && stow_args+=(--profile "$v")
  v="$(stow_opt manifest-path)" && [[ -n "$v" ]] && stow_args+=(--manifest-path "$v")
  [[ -n "$jobs" ]] && stow_args+=(--jobs "$jobs")
  while IFS= read -r v; do stow_args+=(--target "$v"); done < <(stow_list target)
  while IFS= read -r v; do stow_args+=(--env-var "$v"); done < <(stow_list env-vars)
  stow_restore_args=()
  [[ "$exact" == true ]] && stow_restore_args+=(--exact)
  [[ "$no_mtime" == true ]] && stow_restore_args+=(--no-mtime)
  stow_save_args=()
  [[ "$keep_unused" == true ]] && stow_save_args+=(--keep-unused)
  return 0
}

# Sets stow_bin to the binary, or to "" when there is none and the cache is skipped.
# Returns non-zero on a bad `binary` option, or when strict and nothing is found.
stow_binary() {
  local bin
  bin="$(stow_opt binary)"
  stow_bin=""
  if [[ -n "$bin" ]]; then
    if [[ ! -f "$bin" || ! -x "$bin" ]]; then
      stow_err "option 'binary' names '$bin', which is not an executable file"
      return 2
    fi
    stow_bin="$bin"
  elif command -v cargo-stow >/dev/null 2>&1; then
    stow_bin="$(command -v cargo-stow)"
  elif [[ -x "$CARGO_HOME/bin/cargo-stow" ]]; then
    stow_bin="$CARGO_HOME/bin/cargo-stow"
  elif [[ "$stow_install" == true ]]; then
    local version
    version="$(stow_opt version)"
    stow_log "installing cargo-stow${version:+ $version} with cargo install (preinstall it on the agent to skip this)"
    if cargo install --locked --quiet cargo-stow ${version:+--version "$version"}; then
      stow_bin="$CARGO_HOME/bin/cargo-stow"
    fi
  fi
  if [[ -z "$stow_bin" ]]; then
    local msg="no cargo-stow binary (set the binary option, put cargo-stow on PATH, or allow install)"
    if [[ "$CARGO_STOW_STRICT" == true ]]; then
      stow_err "$msg"
      return 3
    fi
    stow_log "warning: $msg; the cache is skipped"
  fi
  return 0
}

stow_json_field() { # file field -> value of a top-level string field of cargo-stow's --json
  sed -n "s/^  \"$2\": \"\\(.*\\)\",\\{0,1\\}\$/\\1/p" "$1" | head -n 1
}

stow_agent() { # buildkite-agent args...: only when it is there; never fails the step
  [[ "$stow_annotate" == true ]] || return 0
  command -v buildkite-agent >/dev/null 2>&1 || return 0
  buildkite-agent "$@" || stow_log "warning: buildkite-agent $1 failed"
}

stow_step_id() { printf '%s' "${BUILDKITE_STEP_KEY:-${BUILDKITE_STEP_ID:-${BUILDKITE_JOB_ID:-local}}}"; }

# stow_run restore|save args...: runs the binary with --json, prints its summary, sets
# stow_json (its output file) and returns the exit code the hook should exit with.
stow_run() {
  local cmd="$1" rc=0
  shift
  stow_json="$(mktemp "${TMPDIR:-/tmp}/cargo-stow-$cmd.XXXXXX")"
  "$stow_bin" --json "$cmd" "${stow_args[@]}" "$@" >"$stow_json" || rc=$?
  case "$rc" in
    0) return 0 ;;
    2 | 4)
      stow_err "cargo-stow $cmd rejected its settings (exit $rc): check the plugin option named above"
      return "$rc"
      ;;
    3)
      stow_err "cargo-stow $cmd hit a cache problem and the strict option is true"
      return 3
      ;;
    *)
      if [[ "$CARGO_STOW_STRICT" == true ]]; then
        stow_err "cargo-stow $cmd failed (exit $rc)"
        return "$rc"
      fi
      stow_log "warning: cargo-stow $cmd failed (exit $rc); carrying on without the cache"
      return 0
      ;;
  esac
}
