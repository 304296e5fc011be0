"""Two real services exchange an event over RabbitMQ through the outbox relay."""

from nameko.standalone.rpc import ClusterRpcProxy

from infra.testing import wait_until
from tests.e2e.helpers import rpc_config, running


def test_registration_in_licensing_reaches_insurance(amqp_uri, tmp_path):
    env = {"SESP_AMQP_URI": amqp_uri, "SESP_DATA_DIR": str(tmp_path)}
    with running({"licensing": env, "insurance": env}, tmp_path, amqp_uri):
        with ClusterRpcProxy(rpc_config(amqp_uri)) as rpc:
            reply = rpc.licensing.register_equipment("311012345201400001", "310115", True)
            assert reply["status"] == "registered"
            seen = wait_until(
                lambda: _try(rpc.insurance.equipment, "311012345201400001"),
                timeout=20,
                what="insurance to learn of the registration",
            )
            assert seen["district"] == "310115"
            assert seen["in_ftz"] is True
            assert seen["applied"] == 1


def _try(fn, *args):
    try:
        return fn(*args)
    except Exception:
        return None
