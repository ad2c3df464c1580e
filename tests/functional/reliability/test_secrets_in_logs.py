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

"""No key material in logs or error messages, on success or failure.

Encryption on, castellan's mock key manager (Cinder's unit-test base), all
loggers captured at DEBUG.  Every raw backup key the driver fetches is
recorded, with the keys derived from it, and searched for in every form a
careless log line could take (hex, base64, repr) in the captured logs and
in the messages of the exceptions raised: backup, incremental, restore,
delete, a volume that fails to read, storage that fails to write, a
damaged object, a forged manifest, a missing key and a key manager that
fails to delete.
"""

import base64
import errno

import fixtures

from cinder import exception as cinder_exception

from cinder_backup_ext.sealing import crypto
from cinder_backup_ext.sealing import keys
from tests.functional.reliability import faulty_store
from tests.functional.reliability import figures
from tests.unit import driver_base as base

OBJ = base.OBJECT_SIZE


def forms(secret):
    """The ways a secret could be printed."""
    return {secret.hex(), secret.hex().upper(),
            base64.b64encode(secret).decode(),
            base64.urlsafe_b64encode(secret).decode(), repr(secret),
            str(list(secret))}


class SecretsInLogsTest(base.DriverTestCase):

    def setUp(self):
        super().setUp()
        self.flags(backup_encryption_enabled=True)
        self.log = self.useFixture(fixtures.FakeLogger(level='DEBUG'))
        self.secrets = set()
        self.messages = []
        real_get = keys.get_key

        def get_key(context, backup_id, key_id):
            raw = real_get(context, backup_id, key_id)
            self.secrets.add(raw)
            for purpose in ('objects', 'fingerprints', 'manifest'):
                self.secrets.add(crypto.derive(raw, purpose))
            return raw
        self.mock_object(keys, 'get_key', side_effect=get_key)
        self.driver = faulty_store.FaultyPosixDriver
        self.addCleanup(setattr, self.driver, 'plan',
                        faulty_store.FaultPlan())

    def expect_failure(self, exc_class, fn, *args, **kwargs):
        error = self.assertRaises(exc_class, fn, *args, **kwargs)
        self.messages.append(str(error))
        return error

    def test_no_key_material_anywhere(self):
        data = base.random_bytes(6 * OBJ, 1)
        full = self.run_backup(data)
        changed = bytearray(data)
        changed[OBJ:OBJ + 999] = b'k' * 999
        incremental = self.run_backup(bytes(changed), parent=full)
        self.assertRestores(incremental, bytes(changed))

        # A volume that fails half-way through.
        class Broken(object):
            reads = 0

            def read(self, size):
                self.reads += 1
                if self.reads > 2:
                    raise IOError(errno.EIO, 'volume read error')
                return bytes(size)
        self.expect_failure(Exception, self.make_driver().backup,
                            self.create_backup_record(), Broken())

        # Storage that fails under an incremental.
        self.driver.plan = faulty_store.FaultPlan(4, 'before', errno.EIO)
        self.expect_failure(cinder_exception.CinderException,
                            self.run_backup, bytes(changed), parent=full,
                            driver_class=self.driver)
        self.driver.plan = faulty_store.FaultPlan()

        # A damaged object, then a forged manifest.
        victim = self.run_backup(base.random_bytes(3 * OBJ, 2))
        with open(self.data_objects(victim)[0], 'r+b') as f:
            f.write(b'\0' * 32)
        self.expect_failure(cinder_exception.InvalidBackup,
                            self.restore_bytes, victim, 3 * OBJ, True)
        forged = self.run_backup(base.random_bytes(3 * OBJ, 3))
        path = self.backup_dir(forged) + '/manifest.json'
        with open(path, 'rb') as f:
            document = f.read()
        with open(path, 'wb') as f:
            f.write(document.replace(b'"new_bytes":', b'"new_bytes":1'))
        self.expect_failure(cinder_exception.InvalidBackup,
                            self.restore_bytes, forged, 3 * OBJ, True)

        # A key that is gone, and a key manager that cannot delete.
        lost = self.run_backup(base.random_bytes(2 * OBJ, 4))
        keys._manager().delete(self.ctxt, self.reload(lost)
                               .service_metadata.split(':', 2)[2])
        self.expect_failure(cinder_exception.CinderException,
                            self.restore_bytes, lost, 2 * OBJ, True)
        self.mock_object(keys._manager(), 'delete',
                         side_effect=RuntimeError('barbican is down'))
        self.run_delete(incremental)

        text = self.log.output + '\n'.join(self.messages)
        self.assertIn(incremental.id, text)
        self.assertGreaterEqual(len(self.secrets), 4 * 6)
        leaks = [secret.hex()[:8] for secret in self.secrets
                 if any(form in text for form in forms(secret))]
        self.assertEqual([], leaks, 'key material in logs or errors')
        figures.report(self, 'secrets', keys_checked=len(self.secrets),
                       forms_each=len(forms(bytes(range(32)))),
                       log_bytes=len(self.log.output),
                       error_messages=len(self.messages), leaks=0)
