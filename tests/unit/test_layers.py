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

"""The layers of the package, as tools/check_layers.py checks them.

The real tree must pass; copies of it with one import or one declaration
broken must fail, each with a line that names the module and the rule.
"""

import importlib.util
import os
import shutil
import tempfile

import testtools

import cinder_backup_ext

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKER = os.path.join(HERE, '..', '..', 'tools', 'check_layers.py')
PACKAGE_DIR = os.path.dirname(os.path.abspath(cinder_backup_ext.__file__))


def load_checker():
    spec = importlib.util.spec_from_file_location('check_layers', CHECKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_layers = load_checker()


class RealTreeTest(testtools.TestCase):

    def test_no_module_imports_a_layer_it_must_not(self):
        self.assertEqual([], check_layers.violations(PACKAGE_DIR))

    def test_every_package_declares_its_rule(self):
        layers = check_layers.Layers(PACKAGE_DIR)
        self.assertEqual(
            ['cmd', 'devtools', 'drivers', 'engine', 'nfs', 'repository',
             'runtime', 'sealing', 'storage', 'volume'], layers.packages)
        self.assertEqual({'exception', 'i18n'}, layers.shared)
        self.assertEqual({'opts', 'cmd.main'}, layers.entry_points)
        self.assertEqual(set(), layers.may_import['runtime'])
        self.assertNotIn('nfs', layers.may_import['engine'])
        self.assertNotIn('engine', layers.may_import['repository'])


class BrokenTreeTest(testtools.TestCase):
    """A copy of the package with one thing broken."""

    def setUp(self):
        super(BrokenTreeTest, self).setUp()
        parent = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, parent)
        self.tree = os.path.join(parent, 'cinder_backup_ext')
        shutil.copytree(PACKAGE_DIR, self.tree,
                        ignore=shutil.ignore_patterns('__pycache__'))

    def append(self, module, text):
        with open(os.path.join(self.tree, module), 'a') as source:
            source.write(text)

    def replace(self, module, old, new):
        path = os.path.join(self.tree, module)
        with open(path) as source:
            text = source.read()
        self.assertIn(old, text)
        with open(path, 'w') as source:
            source.write(text.replace(old, new))

    def assertOneViolation(self, module, *words):
        found = check_layers.violations(self.tree)
        self.assertEqual(1, len(found), found)
        self.assertTrue(found[0].startswith('cinder_backup_ext/' + module),
                        found)
        for word in words:
            self.assertIn(word, found[0])

    def test_the_engine_importing_the_nfs_package(self):
        self.append('engine/extents.py',
                    '\nfrom cinder_backup_ext.nfs import share  # noqa\n')
        self.assertOneViolation(
            'engine/extents.py',
            'the engine package must not import the nfs package')

    def test_the_format_importing_the_engine_inside_a_function(self):
        self.append('repository/manifest.py',
                    '\n\ndef late():\n'
                    '    from cinder_backup_ext.engine import extents\n'
                    '    return extents\n')
        self.assertOneViolation(
            'repository/manifest.py',
            'the repository package must not import the engine package')

    def test_a_name_imported_from_a_module_counts_as_the_module(self):
        self.append('storage/posix.py',
                    '\nfrom cinder_backup_ext.repository.layout import '
                    'fan_out  # noqa\n')
        self.assertOneViolation(
            'storage/posix.py', 'cinder_backup_ext.repository.layout',
            'the storage package must not import the repository package')

    def test_relative_imports_count_as_the_modules_they_name(self):
        # One level up from engine/ is the top: ..nfs is the nfs package;
        # . is the engine itself, which it may import.
        self.append('engine/extents.py',
                    '\nfrom . import parent  # noqa\n'
                    'from ..nfs import share  # noqa\n')
        self.assertOneViolation(
            'engine/extents.py', 'cinder_backup_ext.nfs.share',
            'the engine package must not import the nfs package')

    def test_a_driver_importing_the_command_line(self):
        self.append('drivers/posix.py',
                    '\nfrom cinder_backup_ext.cmd import main  # noqa\n')
        self.assertOneViolation('drivers/posix.py', 'cmd.main',
                                'entry point')

    def test_the_demo_importing_the_command_line(self):
        # devtools may import cmd, but not its entry point.
        self.append('devtools/demo.py',
                    '\nimport cinder_backup_ext.cmd.main  # noqa\n')
        self.assertOneViolation('devtools/demo.py', 'entry point')

    def test_a_shared_module_importing_a_package(self):
        self.append('exception.py',
                    '\nfrom cinder_backup_ext.runtime import buffers  # noqa'
                    '\n')
        self.assertOneViolation('exception.py', 'shared by every package')

    def test_a_package_importing_the_option_list(self):
        self.append('sealing/codec.py',
                    '\nfrom cinder_backup_ext import opts  # noqa\n')
        self.assertOneViolation('sealing/codec.py', 'entry point')

    def test_a_package_that_does_not_decide_about_another(self):
        self.replace('engine/__init__.py',
                     'Must not import: storage, nfs,',
                     'Must not import: nfs,')
        error = self.assertRaises(check_layers.LayerError,
                                  check_layers.violations, self.tree)
        self.assertIn('engine/__init__.py', str(error))
        self.assertIn('storage', str(error))

    def test_a_package_without_its_rule(self):
        self.replace('volume/__init__.py', 'May import: runtime.', '')
        error = self.assertRaises(check_layers.LayerError,
                                  check_layers.violations, self.tree)
        self.assertIn('volume/__init__.py: no line "May import:"',
                      str(error))

    def test_the_command_fails_and_names_the_import(self):
        self.append('volume/disk.py',
                    '\nfrom cinder_backup_ext.sealing import codec  # noqa\n')
        self.assertEqual(1, check_layers.main(['check_layers', self.tree]))
        self.assertEqual(0, check_layers.main(['check_layers', PACKAGE_DIR]))
