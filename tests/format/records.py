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

"""Cinder database records with the fixed IDs of the golden repositories.

Cinder's objects refuse to create a record whose ID is already set, so
these go through the database API, as an import of a backup record does.
"""

from cinder.db import api as db
from cinder import objects
from cinder.objects import fields
from cinder.tests.unit import fake_constants as fake


def create_volume_type(ctxt, type_id):
    db.volume_type_create(ctxt, {'id': type_id, 'name': 'golden-%s' % type_id})
    return type_id


def create_volume(ctxt, volume_type_id, volume_id):
    db.volume_create(ctxt, {
        'id': volume_id, 'size': 1, 'status': 'available',
        'host': 'backup-test-host', 'user_id': fake.USER_ID,
        'project_id': fake.PROJECT_ID, 'volume_type_id': volume_type_id,
        'display_name': 'golden volume',
        'attach_status': fields.VolumeAttachStatus.DETACHED})
    return objects.Volume.get_by_id(ctxt, volume_id)


def create_backup(ctxt, backup_id, volume_id, parent_id=None,
                  container=None, service_metadata=None,
                  status=fields.BackupStatus.AVAILABLE):
    db.backup_create(ctxt, {
        'id': backup_id, 'volume_id': volume_id, 'status': status,
        'user_id': fake.USER_ID, 'project_id': fake.PROJECT_ID,
        'display_name': 'golden', 'display_description': 'golden backup',
        'container': container, 'service_metadata': service_metadata,
        'size': 1, 'parent_id': parent_id, 'availability_zone': 'nova',
        'host': 'backup-test-host',
        'service': 'cinder_backup_ext.drivers.posix.PosixBackupDriver'})
    return objects.Backup.get_by_id(ctxt, backup_id)
