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

"""Sealing: turn plaintext into a stored object and back, verified.

Owns the per-object transform chain (compress, encrypt when the backup is
encrypted, then digest of what is stored) and its materials: codec,
plaintext size, stored size and digest.
Opening checks size and digest before any decompression, so nothing
unverified reaches a decoder or a volume.  Runs on native threads: no
logging here.
"""

import collections

import blake3

from cinder_backup_ext import codec
from cinder_backup_ext import crypto

DIGEST_ALGORITHM = 'blake3'

# What is needed to open one stored object.
Materials = collections.namedtuple('Materials',
                                   'codec size stored digest')


class SealError(ValueError):
    pass


def digest(data):
    return blake3.blake3(data, max_threads=1).hexdigest()


def seal_object(codec_name, data, cipher=None, name=None, offset=0):
    """Return (stored bytes, Materials) for plaintext data.

    Compression comes first: ciphertext does not compress.  With a cipher
    the object is AES-GCM sealed under its backup, name and offset.
    """
    used, stored = codec.compress(codec_name, data)
    if cipher is not None:
        stored = cipher.seal(name, offset, stored)
    return stored, Materials(used, len(data), len(stored), digest(stored))


def open_object(stored, materials, cipher=None, name=None, offset=0):
    """Return the plaintext of a stored object after verifying it."""
    if len(stored) != materials.stored:
        raise SealError('stored size is %d bytes, expected %d'
                        % (len(stored), materials.stored))
    if digest(stored) != materials.digest:
        raise SealError('%s digest mismatch' % DIGEST_ALGORITHM)
    if cipher is not None:
        try:
            stored = cipher.open(name, offset, stored)
        except crypto.DecryptionError as error:
            raise SealError(str(error))
    try:
        return codec.decompress(materials.codec, stored, materials.size)
    except codec.CodecError as error:
        raise SealError(str(error))
