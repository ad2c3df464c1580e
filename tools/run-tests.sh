#!/bin/bash
# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

# The whole test suite, as CI runs it: system packages (tools/test-setup.sh),
# the virtualenv in .venv, then flake8, bandit, shellcheck and the layer
# check, the unit tests, the functional tests and, one class at a time, the
# production-shaped functional tests.  Every stage runs even if an earlier one
# failed; the exit status is non-zero if any failed.  The last line is the summary,
#   tests: N passed, M failed, K skipped
# counted from stestr's results; a failed lint stage or a test run that
# failed without recording a failed test counts as one failure, so that a
# failing run never reports "0 failed".  Before it, one line per stage:
# its result and how many seconds it took.

set -euo pipefail

TOOLS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tools/venv.sh
source "$TOOLS_DIR/venv.sh"

SUMMARY=()

# summarize NAME START RESULT: the stage's line of the summary, timed
# from START (a value of $SECONDS).
summarize() {
    SUMMARY+=("$(printf '  %-11s %-42s %6ds' "$1" "$3" $((SECONDS - $2)))")
}

start=$SECONDS
"$TOOLS_DIR/test-setup.sh"
ensure_venv requirements.txt test-requirements.txt
summarize 'test setup' "$start" ok
cd "$TOP_DIR"
export PATH="$VENV_DIR/bin:$PATH"
# Each test's stdout, stderr and log go into its details, which stestr
# shows for a test that fails (with --suppress-attachments, only then):
# the errors that passing tests provoke on purpose stay off the console.
export OS_STDOUT_CAPTURE=${OS_STDOUT_CAPTURE:-1}
export OS_STDERR_CAPTURE=${OS_STDERR_CAPTURE:-1}
export OS_LOG_CAPTURE=${OS_LOG_CAPTURE:-1}

RESULTS=$(mktemp -d)
trap 'rm -rf "$RESULTS"' EXIT
FAILED_STAGES=()
PASSED=0
FAILED=0
SKIPPED=0

stage_failed() {
    FAILED_STAGES+=("$1")
    FAILED=$((FAILED + 1))
}

# lint NAME: one check of tools/lint.sh, a stage of its own.
lint() {
    local name=$1 start=$SECONDS
    log "pep8: $name"
    if "$TOOLS_DIR/lint.sh" "$name"; then
        summarize "$name" "$start" ok
    else
        stage_failed "$name"
        summarize "$name" "$start" FAILED
    fi
}

# count_results FILE: "passed failed skipped" from a subunit stream.
count_results() {
    subunit2csv < "$1" | python -c '
import csv
import sys
counts = {"passed": 0, "failed": 0, "skipped": 0}
for row in csv.DictReader(sys.stdin):
    # An expected failure is a known bug, not a pass: it fails the run
    # like a test that failed.
    if row["status"] == "success":
        counts["passed"] += 1
    elif row["status"] == "skip":
        counts["skipped"] += 1
    else:
        counts["failed"] += 1
print(counts["passed"], counts["failed"], counts["skipped"])'
}

# run_stestr NAME PATH [STESTR RUN ARGUMENTS...]: run the tests under PATH
# and add up their results.  Each stage records into a repository of its
# own, so that its counts are its own run's: a stage whose tests could not
# even be listed has no run to count, and fails.  A stage that ran no test,
# or skipped one, fails too: a test that cannot run here must not vanish
# from CI unnoticed.
run_stestr() {
    local name=$1 path=$2 status=0 passed=0 failed=0 skipped=0
    local start=$SECONDS result
    local repo="$RESULTS/$name.stestr"
    shift 2
    mkdir -p "$repo"
    log "$name: stestr --test-path $path run $*"
    stestr --repo-url "$repo" --test-path "$path" run \
        --suppress-attachments "$@" || status=$?
    if ! stestr --repo-url "$repo" last --subunit \
            > "$RESULTS/$name.subunit" 2>/dev/null; then
        status=1
    fi
    read -r passed failed skipped \
        < <(count_results "$RESULTS/$name.subunit" || echo 0 0 0)
    PASSED=$((PASSED + passed))
    FAILED=$((FAILED + failed))
    SKIPPED=$((SKIPPED + skipped))
    if [ "$passed" -eq 0 ] || [ "$skipped" -ne 0 ]; then
        log "$name: $passed tests passed, $skipped skipped"
        status=1
    fi
    if [ "$status" -ne 0 ]; then
        FAILED_STAGES+=("$name")
        if [ "$failed" -eq 0 ]; then
            # e.g. a test module that does not import, or a stage that
            # ran nothing: no test failed, yet the stage did.
            FAILED=$((FAILED + 1))
        fi
    fi
    result="$passed passed, $failed failed, $skipped skipped"
    if [ "$status" -ne 0 ]; then
        result="FAILED: $result"
    fi
    summarize "$name" "$start" "$result"
}

lint flake8
lint bandit
lint shellcheck
lint layers

run_stestr unit ./tests/unit
# The production-shaped stacks move gigabytes through a userspace NFS
# client and encrypt them; on two cores they run one at a time, after the
# rest, rather than beside the other functional tests.
PRODUCTION='^tests\.functional\.test_production_stack\.'
run_stestr functional ./tests/functional --exclude-regex "$PRODUCTION"
run_stestr production ./tests/functional --concurrency 1 "$PRODUCTION"

log "summary"
printf '%s\n' "${SUMMARY[@]}"
status=0
if [ "${#FAILED_STAGES[@]}" -ne 0 ]; then
    echo "FAILED: ${FAILED_STAGES[*]}"
    status=1
fi
echo "tests: $PASSED passed, $FAILED failed, $SKIPPED skipped"
exit "$status"
