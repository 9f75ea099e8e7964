"""Run the third-party tests (pytest on tests/thirdparty) in one process and end with one line `N passed, N failed`,
one result per test, as `.ci/run` sums them. Used by `make test-thirdparty`."""
import os, sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


class _Count:
    def __init__(self): self.passed, self.failed = 0, 0

    def pytest_runtest_logreport(self, report):
        if report.when == "call" and report.passed: self.passed += 1
        elif report.failed: self.failed += 1   # a failure in set-up (a fixture) or in the test

    def pytest_collectreport(self, report):
        if report.failed: self.failed += 1     # a test file that cannot be imported


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    count = _Count()
    code = pytest.main(["-q", "-p", "no:cacheprovider", "--rootdir", str(HERE.parents[1]), str(HERE), *sys.argv[1:]],
                       plugins=[count])
    print(f"{count.passed} passed, {count.failed} failed")
    sys.exit(0 if code == 0 and count.failed == 0 else 1)
