"""Two real services exchange an event over RabbitMQ through the outbox relay."""

from infra.testing import wait_until


def test_registration_in_licensing_reaches_insurance(stacks):
    stack = stacks(["licensing", "insurance"], clock=None)
    with stack.rpc() as rpc:
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
