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

"""Walking a parent chain: order, length cap and cycles."""

import collections

import testtools

from cinder_backup_ext.repository import chain
from cinder_backup_ext.repository import manifest

Record = collections.namedtuple('Record', 'id parent_id')


def records(*links):
    """{id: Record} from (id, parent_id) pairs."""
    return {backup_id: Record(backup_id, parent_id)
            for backup_id, parent_id in links}


def parent_in(found, asked=None):
    def parent_of(record):
        if asked is not None:
            asked.append(record.id)
        return found[record.parent_id] if record.parent_id else None
    return parent_of


class ChainWalkTest(testtools.TestCase):

    def test_full_backup_is_its_own_chain(self):
        found = records(('full', None))
        self.assertEqual([found['full']],
                         chain.walk(found['full'], parent_in(found)))

    def test_chain_is_newest_first(self):
        found = records(('full', None), ('inc1', 'full'), ('inc2', 'inc1'))
        walked = chain.walk(found['inc2'], parent_in(found))
        self.assertEqual(['inc2', 'inc1', 'full'], [r.id for r in walked])

    def test_chain_at_the_cap_is_walked(self):
        found = records(('b0', None), ('b1', 'b0'), ('b2', 'b1'))
        walked = chain.walk(found['b2'], parent_in(found), limit=3)
        self.assertEqual(['b2', 'b1', 'b0'], [r.id for r in walked])

    def test_chain_too_long_names_the_backup(self):
        found = records(*[('b%d' % n, 'b%d' % (n - 1) if n else None)
                          for n in range(5)])
        asked = []
        error = self.assertRaises(chain.ChainTooLong, chain.walk,
                                  found['b4'], parent_in(found, asked),
                                  limit=3)
        self.assertEqual('b4', error.backup_id)
        self.assertEqual(3, error.limit)
        self.assertIn('backup b4 ', str(error))
        self.assertIn('more than 3 backups', str(error))
        # The walk stops at the cap: it does not read the whole chain.
        self.assertEqual(['b4', 'b3', 'b2'], asked)

    def test_cap_is_the_format_cap_by_default(self):
        def endless(record):
            return Record('b%d' % (int(record.id[1:]) + 1), 'more')
        error = self.assertRaises(chain.ChainTooLong, chain.walk,
                                  Record('b0', 'more'), endless)
        self.assertEqual(manifest.MAX_CHAIN, error.limit)

    def test_cycle_names_the_backups(self):
        found = records(('a', 'c'), ('b', 'a'), ('c', 'b'), ('new', 'b'))
        error = self.assertRaises(chain.CyclicChain, chain.walk,
                                  found['new'], parent_in(found))
        self.assertEqual('new', error.backup_id)
        self.assertEqual(['new', 'b', 'a', 'c', 'b'], error.members)
        self.assertEqual('backup new has a cyclic parent chain: '
                         'new -> b -> a -> c -> b', str(error))

    def test_backup_that_is_its_own_parent_is_a_cycle(self):
        found = records(('self', 'self'))
        error = self.assertRaises(chain.CyclicChain, chain.walk,
                                  found['self'], parent_in(found))
        self.assertEqual(['self', 'self'], error.members)

    def test_look_up_errors_pass_through(self):
        def parent_of(record):
            raise LookupError('backup %s is not in the database'
                              % record.parent_id)
        error = self.assertRaises(LookupError, chain.walk,
                                  Record('inc', 'gone'), parent_of)
        self.assertIn('gone', str(error))
