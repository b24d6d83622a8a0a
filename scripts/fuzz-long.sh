#!/usr/bin/env bash
# The long fuzzing campaign (docs/fuzzing.md): every target until it has run GOAL executions
# (default 10,000,000) or GOAL_SECS seconds of fuzzing (default 1800), at nice 19, in slices of
# SLICE seconds taken in turn so that every target advances, JOBS targets at a time. Each slice
# resumes from the target's grown corpus. A target that finds something stops; its input stays
# in $FUZZ_WORK/artifacts/TARGET/.
#
#   scripts/fuzz-long.sh start     build, then run the campaign in the background (nohup)
#   scripts/fuzz-long.sh run       the same in the foreground
#   scripts/fuzz-long.sh status    executions and seconds per target so far
#
# Environment: FUZZ_LONG_GOAL, FUZZ_LONG_GOAL_SECS, FUZZ_LONG_SLICE (default 300),
# FUZZ_LONG_JOBS (default 2), and scripts/fuzz.sh's FUZZ_TARGETS, FUZZ_TARGET_DIR, FUZZ_WORK.
# Log: $FUZZ_WORK/long.log, one line per slice:
#   TIME TARGET slice_execs=N slice_secs=S total_execs=N total_secs=S result=ok|done|FOUND:artifact
set -euo pipefail
ROOT=${FUZZ_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
cd "$ROOT"
# The scripts the campaign runs: `start` runs copies, so editing the checkout during a campaign
# that lasts hours cannot change a script under a running bash.
SCRIPTS=${FUZZ_SCRIPTS:-$ROOT/scripts}
WORK=${FUZZ_WORK:-/var/tmp/ironpost-fuzz}
GOAL=${FUZZ_LONG_GOAL:-10000000}
GOAL_SECS=${FUZZ_LONG_GOAL_SECS:-1800}
SLICE=${FUZZ_LONG_SLICE:-300}
JOBS=${FUZZ_LONG_JOBS:-2}
STATE=$WORK/long
LOG=$WORK/long.log
mkdir -p "$STATE"

# state TARGET: "execs secs status" (status: running, done, found)
state() { cat "$STATE/$1" 2>/dev/null || echo "0 0 running"; }

slice() {
  local t=$1 execs secs status out n s left_runs left_secs art result
  read -r execs secs status <<<"$(state "$t")"
  [ "$status" = running ] || return 0
  left_runs=$((GOAL - execs))
  left_secs=$((GOAL_SECS - secs))
  [ "$left_secs" -gt "$SLICE" ] && left_secs=$SLICE
  out=$STATE/$t.last.log
  local start=$SECONDS
  local before
  # The directory first: with pipefail, `ls` of a missing one failed the slice (and, through
  # xargs, ended the campaign) before a new target's first slice ever ran.
  mkdir -p "$WORK/artifacts/$t"
  before=$(ls "$WORK/artifacts/$t/" | wc -l)
  if nice -n 19 bash "$SCRIPTS/fuzz.sh" _run "$t" "$left_secs" -runs="$left_runs" >"$out" 2>&1; then
    result=ok
  elif [ "$(ls "$WORK/artifacts/$t/" 2>/dev/null | wc -l)" -gt "$before" ]; then
    art=$(ls -t "$WORK/artifacts/$t/" | head -1)
    result="FOUND:$WORK/artifacts/$t/$art"
    status=found
    cp "$out" "$STATE/$t.found.log"
  else
    # Not a finding (the binary was replaced by a build, the machine ran out of something):
    # the log says what; the target stays in the campaign.
    result="error:$(tail -1 "$out" | tr -s ' ' | cut -c1-120)"
    cp "$out" "$STATE/$t.error.log"
  fi
  n=$(awk '/^stat::number_of_executed_units/ {print $2}' "$out" | tail -1)
  s=$((SECONDS - start))
  execs=$((execs + ${n:-0}))
  secs=$((secs + s))
  if [ "$status" = running ] && { [ "$execs" -ge "$GOAL" ] || [ "$secs" -ge "$GOAL_SECS" ]; }; then
    status=done
    result=done
  fi
  echo "$execs $secs $status" >"$STATE/$t"
  echo "$(date -u +%FT%TZ) $t slice_execs=${n:-0} slice_secs=$s total_execs=$execs total_secs=$secs result=$result" >>"$LOG"
}

campaign() {
  bash "$SCRIPTS/fuzz.sh" build
  echo "$(date -u +%FT%TZ) campaign start: goal $GOAL runs or $GOAL_SECS s per target, slices of $SLICE s, $JOBS at a time" >>"$LOG"
  while :; do
    local pending=() secs status
    for t in $(bash "$SCRIPTS/fuzz.sh" list); do
      if [ -n "${FUZZ_TARGETS:-}" ] && ! grep -qw -- "$t" <<<"$FUZZ_TARGETS"; then continue; fi
      read -r _ secs status <<<"$(state "$t")"
      [ "$status" = running ] && pending+=("$secs $t")
    done
    [ ${#pending[@]} -eq 0 ] && break
    # The least fuzzed first, so a campaign cut short has spread its time over every target.
    printf '%s\n' "${pending[@]}" | sort -n -s -k1,1 | cut -d' ' -f2 |
      xargs -P "$JOBS" -I{} bash "$0" _slice {}
  done
  echo "$(date -u +%FT%TZ) campaign end" >>"$LOG"
}

status() {
  printf '%-24s %12s %8s  %s\n' target execs secs status
  for t in $(bash "$SCRIPTS/fuzz.sh" list); do
    read -r execs secs st <<<"$(state "$t")"
    printf '%-24s %12s %8s  %s\n' "$t" "$execs" "$secs" "$st"
  done
}

case "${1:-}" in
  start)
    mkdir -p "$WORK/bin"
    cp "$ROOT/scripts/fuzz.sh" "$ROOT/scripts/fuzz-long.sh" "$WORK/bin/"
    FUZZ_ROOT=$ROOT FUZZ_SCRIPTS=$WORK/bin nohup bash "$WORK/bin/fuzz-long.sh" run >>"$WORK/long.nohup.log" 2>&1 &
    echo "fuzz-long: campaign running as PID $!; log $LOG; status: scripts/fuzz-long.sh status"
    ;;
  run) campaign ;;
  status) status ;;
  _slice) slice "$2" ;;
  *)
    sed -n '2,12p' "$0" >&2
    exit 2
    ;;
esac
