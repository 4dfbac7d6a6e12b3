"""Runs a unittest.TestCase as TAP ("1..N", "ok 1 - name"), for test/suites.sh."""

import sys
import time
import unittest


def wait_for(predicate, timeout=3.0):
    """Seconds until predicate() held, or None after timeout."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.02)
    return None


class TapResult(unittest.TextTestResult):
    n = 0

    def _line(self, test, ok, why=""):
        TapResult.n += 1
        name = getattr(test, "_testMethodName", str(test))     # setUpClass errors too
        print(f"{'ok' if ok else 'not ok'} {TapResult.n} - {name}{why}", flush=True)

    def addSuccess(self, test):
        super().addSuccess(test)
        self._line(test, True)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._line(test, False)

    def addError(self, test, err):
        super().addError(test, err)
        self._line(test, False, " (error)")


def run(case):
    """Run every test of case, print TAP, exit 0 only if all passed."""
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(case)
    print(f"1..{suite.countTestCases()}", flush=True)
    result = unittest.TextTestRunner(stream=sys.stderr, resultclass=TapResult,
                                     verbosity=0).run(suite)
    sys.exit(0 if result.wasSuccessful() else 1)
