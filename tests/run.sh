#!/bin/sh
# Runs each test executable given as an argument; exit 0 = passed, 77 = skipped (visibly), other =
# failed. Prints each test's output, then one closing tally line, and exits non-zero on any failure.
passed=0; failed=0; skipped=0; failed_names=""
for t in "$@"; do
    name=$(basename "$t")
    echo "== $name"
    "$t"
    rc=$?
    case $rc in
        0) passed=$((passed + 1)) ;;
        77) skipped=$((skipped + 1)) ;;
        *) failed=$((failed + 1)); failed_names="$failed_names $name"; echo "== $name FAILED (exit $rc)" ;;
    esac
done
[ -n "$failed_names" ] && echo "failed:$failed_names"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
