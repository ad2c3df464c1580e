#!/bin/bash
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

# devstack plugin of cinder-backup-ext: installs the library where devstack
# installs cinder and points cinder-backup (c-bak) at one of its drivers.
# devstack sources this file as "plugin.sh MODE [PHASE]" with its
# functions (iniset, setup_develop, is_service_enabled, ...) defined and
# the variables of devstack/settings set.

# Save and restore xtrace like devstack's own lib/ files do.
_XTRACE_CINDER_BACKUP_EXT=$(set +o | grep xtrace)
set +o xtrace

CINDER_BACKUP_EXT_POSIX_CLASS=cinder_backup_ext.drivers.posix.PosixBackupDriver
CINDER_BACKUP_EXT_NFS_CLASS=cinder_backup_ext.drivers.nfs.NFSBackupDriver

# install_cinder_backup_ext: the library and its requirements, editable,
# into cinder's Python environment.
function install_cinder_backup_ext {
    setup_develop "$CINDER_BACKUP_EXT_DIR"
}

# configure_cinder_backup_ext: the backup driver and its options in
# $CINDER_CONF.  Runs after lib/cinder configured its own backup driver,
# which this replaces.
function configure_cinder_backup_ext {
    local option name value
    case "$CINDER_BACKUP_EXT_DRIVER" in
        posix)
            iniset "$CINDER_CONF" DEFAULT backup_driver "$CINDER_BACKUP_EXT_POSIX_CLASS"
            iniset "$CINDER_CONF" DEFAULT backup_posix_path "$CINDER_BACKUP_EXT_POSIX_PATH"
            sudo install -d -o "$STACK_USER" -m 0770 "$CINDER_BACKUP_EXT_POSIX_PATH"
            ;;
        nfs)
            if [[ -z "$CINDER_BACKUP_EXT_NFS_SHARE" ]]; then
                die "$LINENO" "CINDER_BACKUP_EXT_DRIVER=nfs needs CINDER_BACKUP_EXT_NFS_SHARE"
            fi
            iniset "$CINDER_CONF" DEFAULT backup_driver "$CINDER_BACKUP_EXT_NFS_CLASS"
            iniset "$CINDER_CONF" DEFAULT backup_share "$CINDER_BACKUP_EXT_NFS_SHARE"
            iniset "$CINDER_CONF" DEFAULT backup_mount_point_base "$CINDER_BACKUP_EXT_NFS_MOUNT_POINT_BASE"
            if [[ -n "$CINDER_BACKUP_EXT_NFS_MOUNT_OPTIONS" ]]; then
                iniset "$CINDER_CONF" DEFAULT backup_mount_options "$CINDER_BACKUP_EXT_NFS_MOUNT_OPTIONS"
            fi
            ;;
        *)
            die "$LINENO" "CINDER_BACKUP_EXT_DRIVER must be posix or nfs, not '$CINDER_BACKUP_EXT_DRIVER'"
            ;;
    esac
    iniset "$CINDER_CONF" DEFAULT backup_compression_algorithm "$CINDER_BACKUP_EXT_COMPRESSION"
    configure_cinder_backup_ext_encryption
    configure_cinder_backup_ext_coordination
    for option in $CINDER_BACKUP_EXT_OPTIONS; do
        if [[ "$option" != *=* ]]; then
            die "$LINENO" "CINDER_BACKUP_EXT_OPTIONS: '$option' is not name=value"
        fi
        name=${option%%=*}
        value=${option#*=}
        iniset "$CINDER_CONF" DEFAULT "$name" "$value"
    done
}

# configure_cinder_backup_ext_encryption: a key per backup in Barbican,
# when asked for or, by default, when Barbican runs in this cloud.
function configure_cinder_backup_ext_encryption {
    local encryption=$CINDER_BACKUP_EXT_ENCRYPTION
    if [[ -z "$encryption" ]] && is_service_enabled barbican barbican-svc; then
        encryption=True
    fi
    if [[ -z "$encryption" ]]; then
        return
    fi
    iniset "$CINDER_CONF" DEFAULT backup_encryption_enabled "$encryption"
    if bool_from_string "$encryption" && is_service_enabled barbican barbican-svc; then
        # lib/cinder configures a fixed-key manager; backup keys live in
        # Barbican.
        iniset "$CINDER_CONF" key_manager backend barbican
    fi
}

# configure_cinder_backup_ext_coordination: Cinder's locks, and the
# operator tools' (orphans, adopt), through the etcd devstack runs, as
# lib/cinder sets it, so that they hold across backup hosts.  An operator's
# own CINDER_COORDINATION_URL stays as lib/cinder wrote it.
function configure_cinder_backup_ext_coordination {
    if [[ -z "${CINDER_COORDINATION_URL:-}" ]] && is_service_enabled etcd3; then
        iniset "$CINDER_CONF" coordination backend_url \
            "etcd3+http://${SERVICE_HOST}:${ETCD_PORT}?api_version=v3"
    fi
}

# configure_tempest_cinder_backup_ext: tempest runs the backup tests.
function configure_tempest_cinder_backup_ext {
    iniset "$TEMPEST_CONFIG" volume-feature-enabled backup True
}

# cleanup_cinder_backup_ext: what "clean" removes.  The POSIX repository
# holds users' backups, so it is removed only on request.
function cleanup_cinder_backup_ext {
    if [[ "$CINDER_BACKUP_EXT_DRIVER" == posix ]] && \
            bool_from_string "$CINDER_BACKUP_EXT_PURGE_REPOSITORY"; then
        sudo rm -rf "$CINDER_BACKUP_EXT_POSIX_PATH"
    fi
}

if is_service_enabled c-bak; then
    if [[ "$1" == "stack" && "$2" == "install" ]]; then
        echo_summary "Installing cinder-backup-ext"
        install_cinder_backup_ext
    elif [[ "$1" == "stack" && "$2" == "post-config" ]]; then
        echo_summary "Configuring cinder-backup for cinder-backup-ext"
        configure_cinder_backup_ext
    elif [[ "$1" == "stack" && "$2" == "test-config" ]]; then
        if is_service_enabled tempest; then
            configure_tempest_cinder_backup_ext
        fi
    fi

    if [[ "$1" == "unstack" ]]; then
        # cinder-backup is stopped by devstack's lib/cinder; nothing of
        # ours runs on its own.
        :
    fi

    if [[ "$1" == "clean" ]]; then
        cleanup_cinder_backup_ext
    fi
fi

$_XTRACE_CINDER_BACKUP_EXT
