#!/usr/bin/env python3
"""Tests of scripts/check_skips: it must fail on a skip that the allowed-skips file does not
list, in each report it reads (ctest's JUnit, Google Test's XML, the integration tests'
SKIP lines), and pass when the skip is listed. Run by ctest (CMakeLists.txt)."""

import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHECK = os.path.join(ROOT, "scripts", "check_skips")
LIB_SH = os.path.join(ROOT, "tests", "integration", "lib.sh")

PASSED_CASE = """\
  <testcase name="Crc32c.KnownVector" classname="Crc32c.KnownVector" time="0.01" status="run">
    <system-out>[ RUN      ] Crc32c.KnownVector
[       OK ] Crc32c.KnownVector (0 ms)
[  PASSED  ] 1 test.
</system-out>
  </testcase>
"""

# As `ctest --output-junit` (CMake 3.25) writes a GTEST_SKIP()ped test that
# gtest_discover_tests registered (its SKIP_REGULAR_EXPRESSION matched).
CTEST_SKIPPED_CASE = """\
  <testcase name="IoBatchTest.SendsAndReceivesOnManySocketsInOneRun"
            classname="IoBatchTest.SendsAndReceivesOnManySocketsInOneRun" time="0.01"
            status="notrun">
    <skipped message="SKIP_REGULAR_EXPRESSION_MATCHED"/>
    <system-out>[ RUN      ] IoBatchTest.SendsAndReceivesOnManySocketsInOneRun
/src/net/io_batch_test.cc:45: Skipped
io_uring refused: Operation not permitted
[  SKIPPED ] IoBatchTest.SendsAndReceivesOnManySocketsInOneRun (0 ms)
[  PASSED  ] 0 tests.
[  SKIPPED ] 1 test, listed below:
[  SKIPPED ] IoBatchTest.SendsAndReceivesOnManySocketsInOneRun
</system-out>
  </testcase>
"""

# A skipped Google Test that ctest counted as passed (no SKIP_REGULAR_EXPRESSION).
CTEST_SKIP_SEEN_ONLY_IN_OUTPUT = """\
  <testcase name="IoBatchTest.AnotherThreadOpensTheOwnerEnables"
            classname="IoBatchTest.AnotherThreadOpensTheOwnerEnables" time="0.01" status="run">
    <system-out>[ RUN      ] IoBatchTest.AnotherThreadOpensTheOwnerEnables
/src/net/io_batch_test.cc:140: Skipped
io_uring refused: Operation not permitted
[  SKIPPED ] IoBatchTest.AnotherThreadOpensTheOwnerEnables (0 ms)
</system-out>
  </testcase>
"""

CTEST_DISABLED_CASE = """\
  <testcase name="Volume.DISABLED_Slow" classname="Volume.DISABLED_Slow" time="0"
            status="disabled">
    <skipped message="Disabled"/>
  </testcase>
"""

GTEST_XML = """\
<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="2" failures="0" disabled="0" errors="0" time="0" name="AllTests">
  <testsuite name="Crc32c" tests="1" failures="0" disabled="0" skipped="0" errors="0">
    <testcase name="KnownVector" status="run" result="completed" time="0" classname="Crc32c" />
  </testsuite>
  <testsuite name="IoBatchTest" tests="1" failures="0" disabled="0" skipped="1" errors="0">
    <testcase name="SendsAndReceivesOnManySocketsInOneRun" status="run" result="skipped"
              time="0" classname="IoBatchTest">
      <skipped message="/src/net/io_batch_test.cc:45&#x0A;io_uring refused: EPERM"><![CDATA[/src/net/io_batch_test.cc:45
io_uring refused: EPERM]]></skipped>
    </testcase>
  </testsuite>
</testsuites>
"""


def ctest_junit(*cases):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="(empty)" tests="%d">\n'
            "%s</testsuite>\n" % (len(cases), "".join(cases)))


class CheckSkipsTest(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="bale-check-skips-test-")
        self.dir = self._tmp.name
        self.allowed = self.write("allowed.txt", "# nothing may skip\n")

    def tearDown(self):
        self._tmp.cleanup()

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def check(self, *args):
        """(exit code, stdout + stderr) of check_skips with self.allowed."""
        p = subprocess.run([sys.executable, CHECK, "--allowed", self.allowed] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=60)
        return p.returncode, p.stdout

    def assert_fails_naming(self, args, names):
        rc, out = self.check(*args)
        self.assertEqual(rc, 1, out)
        for name in names:
            self.assertIn("NOT ALLOWED: %s" % name, out)
        self.assertIn(os.path.basename(self.allowed), out)  # says where to list it
        return out

    def assert_passes(self, args):
        rc, out = self.check(*args)
        self.assertEqual(rc, 0, out)
        self.assertNotIn("NOT ALLOWED", out)
        return out

    def test_no_skip_passes(self):
        junit = self.write("r.xml", ctest_junit(PASSED_CASE))
        out = self.assert_passes(["--junit", junit])
        self.assertIn("0 skipped", out)

    def test_unlisted_ctest_skip_fails_with_its_reason(self):
        junit = self.write("r.xml", ctest_junit(PASSED_CASE, CTEST_SKIPPED_CASE))
        out = self.assert_fails_naming(["--junit", junit],
                                       ["IoBatchTest.SendsAndReceivesOnManySocketsInOneRun"])
        self.assertIn("io_uring refused: Operation not permitted", out)
        self.assertNotIn("Crc32c", out)

    def test_listed_ctest_skip_passes(self):
        self.allowed = self.write("allowed.txt", "IoBatchTest.SendsAndReceivesOnManySocketsInOneRun"
                                  "  no io_uring in this sandbox  # why\n")
        junit = self.write("r.xml", ctest_junit(PASSED_CASE, CTEST_SKIPPED_CASE))
        out = self.assert_passes(["--junit", junit])
        self.assertIn("allowed: IoBatchTest.SendsAndReceivesOnManySocketsInOneRun", out)
        self.assertIn("no io_uring in this sandbox", out)

    def test_wildcard_lists_several_and_only_those(self):
        self.allowed = self.write("allowed.txt", "IoBatchTest.* io_uring may be refused\n")
        junit = self.write("r.xml", ctest_junit(CTEST_SKIPPED_CASE, CTEST_SKIP_SEEN_ONLY_IN_OUTPUT))
        self.assert_passes(["--junit", junit])
        junit = self.write("r2.xml", ctest_junit(CTEST_SKIPPED_CASE, CTEST_DISABLED_CASE))
        out = self.assert_fails_naming(["--junit", junit], ["Volume.DISABLED_Slow"])
        self.assertNotIn("NOT ALLOWED: IoBatchTest", out)

    def test_skip_seen_only_in_the_output_fails(self):
        junit = self.write("r.xml", ctest_junit(CTEST_SKIP_SEEN_ONLY_IN_OUTPUT))
        self.assert_fails_naming(["--junit", junit],
                                 ["IoBatchTest.AnotherThreadOpensTheOwnerEnables"])

    def test_disabled_test_counts_as_a_skip(self):
        junit = self.write("r.xml", ctest_junit(PASSED_CASE, CTEST_DISABLED_CASE))
        self.assert_fails_naming(["--junit", junit], ["Volume.DISABLED_Slow"])

    def test_gtest_xml_skip_fails_under_suite_dot_test(self):
        xml = self.write("g.xml", GTEST_XML)
        out = self.assert_fails_naming(["--junit", xml],
                                       ["IoBatchTest.SendsAndReceivesOnManySocketsInOneRun"])
        self.assertIn("io_uring refused: EPERM", out)
        self.allowed = self.write("allowed.txt", "IoBatchTest.Sends* listed\n")
        self.assert_passes(["--junit", xml])

    def test_skip_log_lines(self):
        log = self.write("skips.log", "some output\nSKIP io_uring_test/io_uring-on: kernel says no\n"
                         "not a SKIP line\n")
        out = self.assert_fails_naming(["--skip-log", log], ["io_uring_test/io_uring-on"])
        self.assertIn("kernel says no", out)
        self.allowed = self.write("allowed.txt", "io_uring_test/* a reason\n")
        self.assert_passes(["--skip-log", log])

    def test_junit_and_skip_log_together(self):
        junit = self.write("r.xml", ctest_junit(CTEST_SKIPPED_CASE))
        log = self.write("skips.log", "SKIP a_test/b: c\n")
        self.allowed = self.write("allowed.txt", "a_test/b listed\n")
        self.assert_fails_naming(["--junit", junit, "--skip-log", log],
                                 ["IoBatchTest.SendsAndReceivesOnManySocketsInOneRun"])

    def test_bale_skip_of_lib_sh_is_seen(self):
        # An integration suite reporting a skip through lib.sh, as run.sh collects it.
        suite = self.write("demo_test.sh", textwrap.dedent("""\
            source "$1"
            bale_skip feature-x "the tool is missing"
            """))
        log = self.write("skips.log", "")
        env = dict(os.environ, BALE_SKIP_LOG=log)
        p = subprocess.run(["bash", suite, LIB_SH], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertIn("SKIP demo_test/feature-x: the tool is missing", p.stdout)
        out = self.assert_fails_naming(["--skip-log", log], ["demo_test/feature-x"])
        self.assertIn("the tool is missing", out)

    def test_report_without_tests_is_an_error(self):
        junit = self.write("r.xml", ctest_junit())
        rc, out = self.check("--junit", junit)
        self.assertEqual(rc, 2, out)
        self.assertIn("lists no test", out)

    def test_missing_or_broken_report_is_an_error(self):
        rc, out = self.check("--junit", os.path.join(self.dir, "none.xml"))
        self.assertEqual(rc, 2, out)
        rc, out = self.check("--junit", self.write("bad.xml", "<testsuite><testcase"))
        self.assertEqual(rc, 2, out)
        rc, out = self.check("--skip-log", os.path.join(self.dir, "none.log"))
        self.assertEqual(rc, 2, out)

    def test_allowed_line_without_reason_is_an_error(self):
        self.allowed = self.write("allowed.txt", "# comment\n\nIoBatchTest.*\n")
        junit = self.write("r.xml", ctest_junit(PASSED_CASE))
        rc, out = self.check("--junit", junit)
        self.assertEqual(rc, 2, out)
        self.assertIn("allowed.txt:3", out)
        self.assertIn("no reason", out)

    def test_nothing_to_check_is_an_error(self):
        rc, out = self.check()
        self.assertEqual(rc, 2, out)

    def test_checked_in_list_does_not_allow_io_uring_skips(self):
        # io_uring works on this project's machines: its tests must not skip unnoticed.
        self.allowed = os.path.join(ROOT, "tests", "allowed_skips.txt")
        junit = self.write("r.xml", ctest_junit(CTEST_SKIPPED_CASE))
        self.assert_fails_naming(["--junit", junit],
                                 ["IoBatchTest.SendsAndReceivesOnManySocketsInOneRun"])
        log = self.write("skips.log", "SKIP io_uring_test/io_uring-on: refused\n")
        self.assert_fails_naming(["--skip-log", log], ["io_uring_test/io_uring-on"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
