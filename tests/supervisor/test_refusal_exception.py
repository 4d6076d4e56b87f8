"""A refusal is an ordinary exception: notes can be added to it and it prints its message."""

from __future__ import annotations

import pytest

from supervisor.core.capacity import BlockCode, ProvisioningBlocked, ProvisionInputs, VpnView, choose_vpn


def test_a_refusal_takes_notes_and_says_why() -> None:
    full = ProvisionInputs(
        engines=4,
        max_replicas=4,
        vpns=(VpnView("a", True, 4, 1),),
        breaker_open=False,
        breaker_eta_seconds=0,
        vpn_retry_seconds=5,
        capacity_retry_seconds=30,
    )
    with pytest.raises(ProvisioningBlocked) as raised:
        try:
            choose_vpn(full)
        except ProvisioningBlocked as refusal:
            refusal.add_note("while scaling up")  # a frozen dataclass raised FrozenInstanceError here
            raise
    assert raised.value.__notes__ == ["while scaling up"]
    assert raised.value.code is BlockCode.max_capacity and raised.value.recovery_eta_seconds == 30
    assert str(raised.value).startswith("the stack already runs its maximum of 4 engines")
    assert raised.value.detail()["message"] == str(raised.value)
