# Shell helpers the launchers share; sourced, never run. The caller sets `dry_run` (0 or 1).
# shellcheck shell=bash

die() {
  echo "error: $*" >&2
  exit 2
}

# Shell-quote each argument (single quotes where needed) and join them with spaces.
quote() {
  local out="" arg sq="'" escaped="'\\''"
  for arg in "$@"; do
    if [[ "$arg" =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
      out+="$arg "
    else
      out+="'${arg//$sq/$escaped}' "
    fi
  done
  printf '%s' "${out% }"
}

# Print a command so it can be pasted into a shell; run it unless --dry-run.
run() {
  echo "+ $(quote "$@")"
  if [[ "${dry_run:-0}" -eq 0 ]]; then
    "$@"
  fi
}
