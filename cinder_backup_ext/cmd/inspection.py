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

"""Describe one backup: its chain, sizes, ratios, key and format.

Owns the inspect command's figures, computed from the manifests and
segment indexes that Repository reads (and authenticates) and from the
sizes of the stored files; it reads no data object.
"""

import collections
import sys

from cinder_backup_ext.cmd import context as tool_context
from cinder_backup_ext.cmd import progress

DESCRIPTION = (
    'Describe a backup: its chain (newest first), the volume size, the '
    'bytes stored by the backup itself and by its whole chain, the '
    'compression ratio of its own objects, the share of zeros, the codecs '
    'used, the encryption key ID and the repository format version. '
    'Reads manifests and segment indexes only. Exit codes: 0 done, 1 the '
    'backup\'s metadata cannot be read, 2 usage or configuration error.')


def add_arguments(parser):
    parser.add_argument('backup_id', metavar='BACKUP_ID')
    tool_context.add_config_argument(parser)
    tool_context.add_format_argument(parser)


def _stored_bytes(store, directory):
    """(bytes, files) stored in a backup's directory."""
    total = files = 0
    for name in store.list_objects(directory):
        total += store.object_size(directory, name)
        files += 1
    return total, files


def _ratio(part, whole):
    return round(part / whole, 4) if whole else None


def describe_format2(tools, backup, chain):
    keyring = tools.keyring()
    repo = tools.repo
    locations = [tools.location(member, keyring) for member in chain]
    manifests = [repo.read_manifest(location) for location in locations]
    newest = manifests[0]
    zero_bytes = inherited_bytes = 0
    own = {}
    for segment in newest.segments:
        index = repo.read_index(locations[0], segment, len(chain))
        for extent in index.extents:
            if extent.ref is None:
                zero_bytes += extent.length
            elif extent.ref.depth > 0:
                inherited_bytes += extent.length
            else:
                own[extent.ref.number] = extent.ref.materials
    codecs = collections.Counter(m.codec for m in own.values())
    plain = sum(m.size for m in own.values())
    stored_objects = sum(m.stored for m in own.values())
    members = []
    for member, location, member_manifest in zip(chain, locations,
                                                 manifests):
        stored, files = _stored_bytes(tools.store, location.directory)
        members.append({'backup': member.id, 'status': member.status,
                        'created_at': member_manifest.created_at,
                        'stored_bytes': stored, 'files': files,
                        'key_id': member_manifest.key_id})
    return {
        'backup': backup.id, 'format': 'cinder-backup-ext 2',
        'volume_id': newest.volume_id, 'created_at': newest.created_at,
        'directory': locations[0].directory,
        'chain': members,
        'logical_bytes': newest.size,
        'block_size': newest.block_size,
        'object_size': newest.object_size,
        'stored_bytes': members[0]['stored_bytes'],
        'chain_stored_bytes': sum(m['stored_bytes'] for m in members),
        'new_bytes': newest.stats.get('new_bytes'),
        'own_objects': len(own),
        'own_plain_bytes': plain,
        'own_object_bytes': stored_objects,
        'compression_ratio': _ratio(plain, stored_objects),
        'zero_bytes': zero_bytes,
        'zero_ratio': _ratio(zero_bytes, newest.size),
        'inherited_bytes': inherited_bytes,
        'codecs': dict(codecs),
        'encryption': newest.encryption,
        'key_id': newest.key_id,
    }


def describe_legacy(tools, backup, chain):
    from cinder_backup_ext.repository import legacy
    reader = legacy.LegacyBackups(tools.store, None, 1)
    members = []
    for member in chain:
        objects, _meta = reader.read_metadata(member)
        stored, files = _stored_bytes(tools.store, member.container)
        members.append({'backup': member.id, 'status': member.status,
                        'created_at': str(member.created_at),
                        'stored_bytes': stored, 'files': files,
                        'objects': len(objects),
                        'logical_bytes': sum(o[2] for o in objects),
                        'codecs': dict(collections.Counter(
                            o[3] for o in objects))})
    first = members[0]
    return {
        'backup': backup.id, 'format': 'cinder 1.0.0',
        'volume_id': backup.volume_id, 'directory': backup.container,
        'chain': members,
        'logical_bytes': backup.size * 1024 ** 3 if backup.size else None,
        'stored_bytes': first['stored_bytes'],
        'chain_stored_bytes': sum(m['stored_bytes'] for m in members),
        'own_plain_bytes': first['logical_bytes'],
        'compression_ratio': _ratio(first['logical_bytes'],
                                    first['stored_bytes']),
        'codecs': first['codecs'],
        'key_id': None,
    }


def _print_text(info, out):
    size = progress.format_bytes
    out.write('backup        %s\n' % info['backup'])
    out.write('format        %s\n' % info['format'])
    out.write('volume        %s\n' % info.get('volume_id'))
    out.write('directory     %s\n' % info['directory'])
    if info.get('logical_bytes') is not None:
        out.write('volume size   %s\n' % size(info['logical_bytes']))
    out.write('stored        %s by this backup, %s by its chain\n'
              % (size(info['stored_bytes']),
                 size(info['chain_stored_bytes'])))
    if info.get('new_bytes') is not None:
        out.write('new data      %s in %d objects (%s stored)\n'
                  % (size(info['own_plain_bytes']), info['own_objects'],
                     size(info['own_object_bytes'])))
    if info.get('compression_ratio') is not None:
        out.write('compression   %.2f : 1 (%s)\n'
                  % (info['compression_ratio'],
                     ', '.join('%s %d' % item for item in
                               sorted(info['codecs'].items()))))
    if info.get('zero_ratio') is not None:
        out.write('zeros         %s (%.1f%% of the volume)\n'
                  % (size(info['zero_bytes']), 100 * info['zero_ratio']))
    if info.get('inherited_bytes') is not None:
        out.write('from parents  %s\n' % size(info['inherited_bytes']))
    out.write('encryption    %s\n' % (
        'AES-256-GCM, key %s' % info['key_id'] if info['key_id']
        else 'none'))
    out.write('chain         %d backup(s), newest first:\n'
              % len(info['chain']))
    for member in info['chain']:
        out.write('  %s  %-10s %s  %s in %d files\n' % (
            member['backup'], member['status'], member['created_at'],
            size(member['stored_bytes']), member['files']))


def run(args):
    def body(tools):
        from cinder_backup_ext import exception
        from cinder_backup_ext.repository import records
        backup = tools.backup(args.backup_id)
        if not backup.service_metadata:
            raise tool_context.ToolError(
                'backup %s has no stored data (status %s)'
                % (backup.id, backup.status), tool_context.EXIT_PROBLEMS)
        chain = tools.chain(backup)
        try:
            if records.is_legacy(backup):
                info = describe_legacy(tools, backup, chain)
            else:
                info = describe_format2(tools, backup, chain)
        except (exception.BackupCorrupted, exception.BackupKeyError) as err:
            raise tool_context.ToolError(str(err),
                                         tool_context.EXIT_PROBLEMS)
        if args.format == 'json':
            tool_context.print_json(info)
        else:
            _print_text(info, sys.stdout)
        return tool_context.EXIT_OK
    return tool_context.run_tool(args, body)
