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

"""A paste filter for the test stack's cinder-api under ``noauth``.

Cinder's noauth middleware answers a request without X-Auth-Token with a
204 "here is your token" reply.  openstackclient's version discovery sends
no token, takes that reply for the API and fails; this filter, placed
before noauth, gives such requests the token every other request of the
tests carries.  It runs inside cinder-api, so it imports only webob.
"""

import webob.dec

TOKEN = 'admin:admin'


class DefaultToken(object):
    """Treat a request without a token as one from admin:admin."""

    def __init__(self, application):
        self.application = application

    @webob.dec.wsgify
    def __call__(self, req):
        req.headers.setdefault('X-Auth-Token', TOKEN)
        return req.get_response(self.application)

    @classmethod
    def factory(cls, global_config, **local_config):
        return cls
