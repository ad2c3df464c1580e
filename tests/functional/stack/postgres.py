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

"""A private PostgreSQL (Debian's postgresql) reachable only by its socket.

Several cinder processes writing one SQLite file fail now and then with
"database is locked"; a real database server avoids that.  It listens on
a unix socket in the work directory and on no TCP port.  initdb and the
server refuse to run as root, so as root they run as the postgres user.
"""

import glob
import os
import pwd

import fixtures

from tests.functional.stack import procs

START_TIMEOUT = 60


def _bin_dir():
    dirs = sorted(glob.glob('/usr/lib/postgresql/*/bin'),
                  key=lambda d: int(d.split('/')[-2]))
    if not dirs:
        raise procs.StackError(
            'no /usr/lib/postgresql/*/bin: run tools/test-setup.sh '
            '(Debian package postgresql)')
    return dirs[-1]


class PostgreSQL(fixtures.Fixture):

    def __init__(self, work_dir, log_dir):
        super().__init__()
        self.dir = os.path.join(work_dir, 'pg')
        self.log_dir = log_dir

    def url(self, database):
        """SQLAlchemy URL of database, through the socket."""
        return 'postgresql+psycopg2://postgres@/%s?host=%s' % (
            database, self.dir)

    def _as_db_user(self):
        if os.getuid() != 0:
            return {}
        user = pwd.getpwnam('postgres')

        def drop_root():
            os.setgid(user.pw_gid)
            os.setgroups([])
            os.setuid(user.pw_uid)
        return {'preexec_fn': drop_root}

    def _setUp(self):
        bin_dir = _bin_dir()
        os.makedirs(self.dir, mode=0o700)
        if os.getuid() == 0:
            user = pwd.getpwnam('postgres')
            os.chown(self.dir, user.pw_uid, user.pw_gid)
            # The postgres user must reach its data and the socket.
            path = os.path.dirname(self.dir)
            while path != '/':
                os.chmod(path, os.stat(path).st_mode | 0o711)
                path = os.path.dirname(path)
        data = os.path.join(self.dir, 'data')
        procs.run([os.path.join(bin_dir, 'initdb'), '-D', data,
                   '-U', 'postgres', '--auth=trust', '--no-sync',
                   '-E', 'UTF8', '--locale=C'], 'initdb', 60,
                  **self._as_db_user())
        self.server = self.useFixture(procs.Service(
            'postgres',
            [os.path.join(bin_dir, 'postgres'), '-D', data,
             '-k', self.dir, '-c', 'listen_addresses=',
             # Throwaway data: durability only costs time.
             '-c', 'fsync=off', '-c', 'synchronous_commit=off',
             '-c', 'full_page_writes=off', '-c', 'max_connections=200'],
            self.log_dir, **self._as_db_user()))
        socket = os.path.join(self.dir, '.s.PGSQL.5432')
        self.server.wait_until('socket %s' % socket,
                               lambda: os.path.exists(socket), START_TIMEOUT)
        self.bin_dir = bin_dir

    def psql(self, database, sql):
        """Run sql in database; its output, unaligned, tuples only."""
        return procs.run(
            [os.path.join(self.bin_dir, 'psql'), '-h', self.dir,
             '-U', 'postgres', '-d', database, '-v', 'ON_ERROR_STOP=1',
             '-At', '-c', sql], 'psql %s' % sql, 30)

    def create_database(self, name):
        # The socket appears before the server accepts connections.
        procs.wait_for(
            'postgres accepting connections',
            lambda: self._try(self.psql, 'postgres', 'SELECT 1'),
            START_TIMEOUT, log_file=self.server.log_file,
            process=self.server.process)
        self.psql('postgres', 'CREATE DATABASE "%s"' % name)
        return self.url(name)

    @staticmethod
    def _try(func, *args):
        try:
            func(*args)
            return True
        except procs.StackError:
            return False
