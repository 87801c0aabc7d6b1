#!/usr/bin/env python3
"""Tests of scripts/check_layers: it must fail on a face that includes a store or format
header and on net including a protocol, and pass on clean trees and on tests. Run by
ctest (CMakeLists.txt)."""

import os
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHECK = os.path.join(ROOT, "scripts", "check_layers")


def run(root, *args):
    return subprocess.run([sys.executable, CHECK, "--root", root, *args],
                          capture_output=True, text=True)


class CheckLayersTest(unittest.TestCase):
    def tree(self, files):
        d = tempfile.TemporaryDirectory()
        self.addCleanup(d.cleanup)
        for path, text in files.items():
            full = os.path.join(d.name, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w") as f:
                f.write(text)
        return d.name

    def test_clean_tree_passes(self):
        root = self.tree({"src/frontend/a.cc": '#include "frontend/object_store.h"\n',
                          "src/frontend/a_test.cc": '#include "store/store.h"\n'})
        self.assertEqual(run(root).returncode, 0)

    def test_face_including_the_store_fails(self):
        for header in ("store/volume.h", "format/needle.h"):
            root = self.tree({"src/frontend/a.h": f'#pragma once\n #include "{header}"\n'})
            r = run(root)
            self.assertEqual(r.returncode, 1, r.stdout)
            self.assertIn(f"src/frontend/a.h:2: {header}", r.stdout)

    def test_net_rule(self):
        root = self.tree({"src/net/loop.cc": '#include "proto/http_request.h"\n'})
        self.assertEqual(run(root).returncode, 1)
        self.assertEqual(run(root, "--rules", "frontend").returncode, 0)
        self.assertEqual(run(root, "--rules", "frontend,net").returncode, 1)
        self.assertEqual(run(root, "--rules", "bogus").returncode, 2)

    def test_loadgen_rule(self):
        for header in ("net/socket.h", "proto/memcache_binary.h", "store/volume.h"):
            root = self.tree({"src/loadgen/wire.cc": f'#include "{header}"\n'})
            r = run(root)
            self.assertEqual(r.returncode, 1, r.stdout)
            self.assertIn(f"src/loadgen/wire.cc:1: {header}", r.stdout)
        root = self.tree({"src/loadgen/wire.cc": '#include "base/status.h"\n'
                                                 '#include "loadgen/wire.h"\n',
                          "src/loadgen/wire_test.cc": '#include "net/socket.h"\n'})
        self.assertEqual(run(root).returncode, 0)

    def test_this_checkout_faces_are_clean(self):
        r = run(ROOT)
        self.assertEqual(r.returncode, 0, r.stdout)


if __name__ == "__main__":
    unittest.main()
