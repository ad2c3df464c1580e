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

"""A process set up the way cinder-backup sets up its own.

Owns eventlet monkey patching (through Cinder's own cinder.monkey_patch
where the release has it), whether it is active, loading cinder.conf with
oslo.log and loading the driver class a configuration names, for the
command-line tools and the development harness that run the drivers
outside cinder-backup.

Nothing from cinder, oslo or the drivers may be imported at module level
here: cinder-backup monkey patches eventlet before importing anything else,
and these tools must run the drivers in the same world.
"""

import importlib
import os
import warnings

# cinder.monkey_patch honours this variable too, so setting it is how
# --no-eventlet reaches Cinder's own code.
NO_EVENTLET_ENV = 'OS_CINDER_DISABLE_EVENTLET_PATCHING'


def eventlet_disabled(argv):
    if '--no-eventlet' in argv:
        return True
    value = os.environ.get(NO_EVENTLET_ENV, '').strip().lower()
    return value in ('1', 'true', 'yes')


def monkey_patch(argv):
    """Patch the way cinder-backup does, unless asked not to."""
    debug = '--debug' in argv
    if not debug:
        # Importing cinder announces eventlet's deprecation on every run;
        # that is noise for someone running a command, not information.
        warnings.filterwarnings('ignore', message=r'\s*Eventlet is deprecated')
    if eventlet_disabled(argv):
        os.environ[NO_EVENTLET_ENV] = 'true'
    import logging
    if not debug:
        # cinder.monkey_patch logs before logging is configured; with no
        # handler its warning about native threading would reach stderr.
        logging.getLogger('cinder.monkey_patch').setLevel(logging.ERROR)
    try:
        from cinder import monkey_patch as cinder_monkey_patch
    except ImportError:
        # Cinder releases before 2025.2 patched unconditionally in
        # cinder/cmd/backup.py.
        if not eventlet_disabled(argv):
            import eventlet
            eventlet.monkey_patch()
        return
    cinder_monkey_patch.patch()


def eventlet_active():
    try:
        import eventlet.patcher
    except ImportError:
        return False
    return eventlet.patcher.is_monkey_patched('thread')


def configure(config_files=(), debug=False):
    """Parse cinder's configuration and set up oslo.log.

    Only the given files are read: a subcommand that should not touch the
    host's /etc/cinder/cinder.conf must not get it by default.
    """
    import logging as std_logging

    from oslo_config import cfg
    from oslo_log import log as logging

    from cinder.common import config  # noqa: F401 - registers global opts
    from cinder import objects

    conf = cfg.CONF
    logging.register_options(conf)
    conf(args=[], project='cinder', default_config_files=list(config_files))
    conf.set_override('debug', debug)
    logging.setup(conf, 'cinder')
    if not debug:
        std_logging.getLogger().setLevel(std_logging.WARNING)
    objects.register_all()
    return conf


def load_class(path):
    """The class a dotted path (such as backup_driver) names.

    ImportError with a one-line reason otherwise: the operator reads it,
    and oslo.utils' import_class would put a traceback into its message.
    """
    module_name, _sep, class_name = path.rpartition('.')
    try:
        module = importlib.import_module(module_name)
        return getattr(module, class_name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ImportError('cannot load driver %s: %s' % (path, exc))
