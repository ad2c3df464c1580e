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

"""TEST-ONLY: one process of the fan-out directory race.

Several of these run at once on one repository, each creating and removing
its own backup directories below the same container and fan-out
directories, as backup hosts sharing a share do all day: one host's
delete_container removes a fan-out directory that has just become empty
while another host is creating a directory or an object below it.  Every
object written must read back intact; the process prints one JSON line
with its counts and the errors it met.

    python -m tests.functional.reliability.dir_race ROOT TAG ROUNDS
"""

import json
import sys
import traceback


def main(argv):
    root, tag, rounds = argv[0], argv[1], int(argv[2])
    from cinder_backup_ext.storage import posix

    store = posix.PosixStore(root)
    written = 0
    errors = []
    for number in range(rounds):
        # Every process uses the same container and fan-out levels, so
        # each round empties and recreates directories the others use.
        container = 'backups/aa/bb/%s-%d' % (tag, number)
        payload = ('%s %d' % (tag, number)).encode() * 64
        try:
            store.put_container(container)
            store.put_object(container, 'data/00000/00000000', payload)
            store.put_object(container, 'manifest.json', payload)
            written += 2
            for name in ('data/00000/00000000', 'manifest.json'):
                if store.get_object(container, name) != payload:
                    errors.append('%s/%s read back wrong' % (container,
                                                             name))
            for name in store.list_objects(container):
                store.delete_object(container, name)
            store.delete_container(container)
        except Exception:
            errors.append(traceback.format_exc(limit=3))
    print(json.dumps({'tag': tag, 'rounds': rounds, 'written': written,
                      'errors': errors}))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
