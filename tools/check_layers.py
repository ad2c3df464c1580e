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

"""Check that no module of cinder_backup_ext imports a layer it must not.

    tools/check_layers.py [PACKAGE_DIR]

The rule is written where a reader looks for it, in the docstrings of the
packages, and read from there, so the documentation cannot drift from
what is checked:

- each package's ``__init__`` docstring has a line ``May import: ...``
  and a line ``Must not import: ...``; together with the package itself
  they name every package, so a new package makes each one decide;
- the top-level ``__init__`` names the modules ``Shared by every
  package: ...`` (which import no package themselves) and those
  ``Imported by no module: ...`` (the entry points).

Every import counts, also one inside a function: those are how the tools
keep Cinder out of module import time, and they are dependencies all the
same.  Exit status 1 and one line per violation when the rule is broken.
"""

import ast
import os
import re
import sys

ROOT = 'cinder_backup_ext'
_NAME = re.compile(r'[A-Za-z_][\w.]*')


class LayerError(Exception):
    """The rule itself is missing or incomplete."""


def _docstring(path):
    with open(path, encoding='utf-8') as source:
        return ast.get_docstring(ast.parse(source.read(), path)) or ''


def _declared(doc, label, where):
    """The names on the line of doc that starts with label."""
    for line in doc.splitlines():
        if line.startswith(label):
            # A declaration may run on over the next lines until its full
            # stop; the first blank line ends it in any case.
            text = doc[doc.index(line) + len(label):]
            text = text.split('\n\n', 1)[0].split('.\n', 1)[0]
            return set(_NAME.findall(text.rstrip('.')))
    raise LayerError('%s: no line "%s"' % (where, label))


class Layers(object):
    """The declared rule of one package tree."""

    def __init__(self, package_dir):
        self.package_dir = package_dir
        self.packages = sorted(
            name for name in os.listdir(package_dir)
            if os.path.isfile(os.path.join(package_dir, name, '__init__.py')))
        self.root_modules = sorted(
            name[:-3] for name in os.listdir(package_dir)
            if name.endswith('.py') and name != '__init__.py')
        root_doc = _docstring(os.path.join(package_dir, '__init__.py'))
        where = '%s/__init__.py' % ROOT
        self.shared = _declared(root_doc, 'Shared by every package:', where)
        self.entry_points = _declared(root_doc, 'Imported by no module:',
                                      where)
        self.may_import = {}
        for package in self.packages:
            where = '%s/%s/__init__.py' % (ROOT, package)
            doc = _docstring(os.path.join(package_dir, package,
                                          '__init__.py'))
            may = _declared(doc, 'May import:', where) & set(self.packages)
            must_not = (_declared(doc, 'Must not import:', where)
                        & set(self.packages))
            both = may & must_not
            if both:
                raise LayerError('%s: both may and must not import %s'
                                 % (where, ', '.join(sorted(both))))
            undecided = set(self.packages) - may - must_not - {package}
            if undecided:
                raise LayerError('%s: says neither that it may nor that it '
                                 'must not import %s'
                                 % (where, ', '.join(sorted(undecided))))
            self.may_import[package] = may
        for name in self.shared | self.entry_points:
            if name.split('.')[0] not in self.packages + self.root_modules:
                raise LayerError('%s/__init__.py names %s, which does not '
                                 'exist' % (ROOT, name))

    def modules(self):
        """(dotted name below ROOT, path) of every module of the tree."""
        for directory, dirs, files in os.walk(self.package_dir):
            dirs[:] = sorted(d for d in dirs if d != '__pycache__')
            for name in sorted(files):
                if not name.endswith('.py'):
                    continue
                path = os.path.join(directory, name)
                relative = os.path.relpath(path, self.package_dir)[:-3]
                parts = relative.split(os.sep)
                if parts[-1] == '__init__':
                    parts = parts[:-1]
                yield '.'.join(parts), path

    def owner(self, module):
        """The package a module belongs to, or None for a top-level one."""
        first = module.split('.')[0]
        return first if first in self.packages else None

    def violation(self, importer, imported):
        """Why importer may not import imported, or None if it may."""
        if imported == '' or imported == importer:
            return None
        if any(imported == entry or imported.startswith(entry + '.')
               for entry in self.entry_points):
            return '%s is an entry point, imported by no module' % imported
        source, target = self.owner(importer), self.owner(imported)
        if source is not None and source == target:
            return None
        if imported.split('.')[0] in self.shared:
            return None
        if source is None:
            if importer.split('.')[0] in self.shared:
                return ('%s is shared by every package and imports none'
                        % importer)
            # The other top-level modules are entry points (opts): they
            # sit above every layer.
            return None
        if target is None:
            return ('%s is a top-level module that packages do not import'
                    % imported)
        if target not in self.may_import[source]:
            return ('the %s package must not import the %s package'
                    % (source, target))
        return None


def _imports(tree, module, is_package):
    """(line, imported module below ROOT) for each import of ROOT."""
    prefix = ROOT + '.'
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                anchor = module.split('.') if module else []
                if not is_package:
                    anchor = anchor[:-1]
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = '.'.join([ROOT] + anchor + ([base] if base else []))
            # "from a import b" may import the module a.b or the name b of
            # a; whichever it is, a.b (or a itself) is what it depends on.
            names = [base + '.' + alias.name for alias in node.names]
        for name in names:
            if name == ROOT or name.startswith(prefix):
                yield node.lineno, name[len(prefix):]


def _known(layers, name):
    """The longest prefix of name that is a package or module of the tree,
    so that "from pkg.mod import NAME" counts as importing pkg.mod."""
    parts = name.split('.')
    for end in range(len(parts), 0, -1):
        candidate = os.path.join(layers.package_dir, *parts[:end])
        if os.path.isdir(candidate) or os.path.isfile(candidate + '.py'):
            return '.'.join(parts[:end])
    return ''


def violations(package_dir):
    """One line for each import that breaks the declared rule."""
    layers = Layers(package_dir)
    found = []
    for module, path in layers.modules():
        with open(path, encoding='utf-8') as source:
            tree = ast.parse(source.read(), path)
        is_package = path.endswith('__init__.py')
        for line, name in _imports(tree, module, is_package):
            reason = layers.violation(module, _known(layers, name))
            if reason:
                where = os.path.relpath(path, os.path.dirname(package_dir))
                found.append('%s:%d: imports %s.%s: %s'
                             % (where, line, ROOT, name, reason))
    return found


def main(argv):
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    package_dir = argv[1] if len(argv) > 1 else os.path.join(here, ROOT)
    try:
        found = violations(package_dir)
    except LayerError as error:
        print('check_layers: %s' % error, file=sys.stderr)
        return 1
    for line in found:
        print(line, file=sys.stderr)
    return 1 if found else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
