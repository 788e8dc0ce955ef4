"""Option validation: every misuse gets a clear icekit error."""

from __future__ import annotations

import inspect

import pytest

from icekit import (
    Agent,
    ConfigError,
    CredentialsError,
)
from icekit.asyncio.options import (
    AgentOptions,
    NetworkType,
    generate_pwd,
    generate_ufrag,
    validate_pwd,
    validate_ufrag,
)
from icekit.candidate import CandidateType
from icekit.ice import IceConfig


def test_defaults() -> None:
    opts = AgentOptions()
    assert opts.network_types == (NetworkType.UDP4, NetworkType.UDP6)
    assert opts.candidate_types == (CandidateType.HOST, CandidateType.SRFLX, CandidateType.RELAY)
    assert not opts.include_loopback
    assert str(NetworkType.UDP4) == "udp4"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"network_types": ["udp5"]},
        {"network_types": []},
        {"network_types": "udp4"},
        {"network_types": [NetworkType.TCP4]},
        {"candidate_types": ["prflx"]},
        {"candidate_types": ["bogus"]},
        {"candidate_types": []},
        {"urls": "stun:example.org"},
        {"include_loopback": "yes"},
        {"port_min": 5000, "port_max": 4000},
        {"port_min": -1},
        {"port_max": 70000},
        {"check_interval": 0},
        {"check_interval": 0.001},
        {"check_interval": -1},
        {"disconnected_timeout": float("nan")},
        {"keepalive_interval": "2s"},
        {"receive_buffer_size": 0},
        {"max_datagram_size": 100},
        {"lite": True},
        {"interface_filter": "eth0"},
    ],
)
def test_bad_option_values(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        AgentOptions(**kwargs)  # type: ignore[arg-type]


def test_agent_keywords_are_the_option_fields_with_the_same_defaults() -> None:
    # Agent spells the options out for its typed signature; AgentOptions
    # validates them.  The two lists must not drift apart.
    params = {name: p for name, p in inspect.signature(Agent).parameters.items()
              if name != "core_factory"}
    fields = AgentOptions.__dataclass_fields__
    assert list(params) == list(fields)
    assert AgentOptions(**{name: p.default for name, p in params.items()}) == AgentOptions()


def test_options_repr_hides_the_pwd() -> None:
    pwd = "Secretpasswordthatislong1"
    opts = AgentOptions(local_ufrag="abcd", local_pwd=pwd)
    assert pwd not in repr(opts) and "abcd" in repr(opts)
    agent = Agent(local_pwd=pwd)
    assert pwd not in repr(agent) and pwd not in repr(agent.options)


def test_lite_with_host_only_is_fine() -> None:
    opts = AgentOptions(lite=True, candidate_types=["host"])
    assert opts.ice_config().lite


@pytest.mark.parametrize("ufrag", ["abc", "a" * 257, "abcd efg", "abcd:", "é" * 5, ""])
def test_bad_ufrag(ufrag: str) -> None:
    with pytest.raises(CredentialsError):
        validate_ufrag(ufrag)
    with pytest.raises(CredentialsError):
        AgentOptions(local_ufrag=ufrag)


@pytest.mark.parametrize("pwd", ["a" * 21, "a" * 257, "a" * 21 + "-"])
def test_bad_pwd(pwd: str) -> None:
    with pytest.raises(CredentialsError):
        validate_pwd(pwd)


def test_generated_credentials_are_valid_and_random() -> None:
    assert validate_ufrag(generate_ufrag())
    assert validate_pwd(generate_pwd())
    assert generate_ufrag() != generate_ufrag()
    assert validate_ufrag("ab+/") == "ab+/"


def test_core_config_mapping() -> None:
    cfg = AgentOptions(
        check_interval=0.02,
        keepalive_interval=1.0,
        disconnected_timeout=2.0,
        failed_timeout=3.0,
        srflx_acceptance_min_wait=0.4,
    ).ice_config()
    assert cfg.ta == 0.02
    assert cfg.consent_interval == 1.0
    assert cfg.disconnected_timeout == 2.0
    assert cfg.consent_timeout == 5.0
    assert cfg.nomination_wait_srflx == 0.4





def test_timeouts_keep_failed_timeout_relative_to_disconnection() -> None:
    config = AgentOptions(disconnected_timeout=40).ice_config()
    assert config.disconnected_timeout == 40
    assert config.consent_timeout == 65  # failed_timeout keeps its 25 s default
    assert AgentOptions(disconnected_timeout=2, failed_timeout=0).ice_config().consent_timeout == 2
    Agent(disconnected_timeout=40)


@pytest.mark.parametrize("name", ["max_remote_prflx", "max_remote_candidates"])
def test_remote_candidate_caps(name: str) -> None:
    assert getattr(AgentOptions().ice_config(), name) == getattr(IceConfig(), name)
    assert getattr(AgentOptions(**{name: 3}).ice_config(), name) == 3
    assert getattr(Agent(**{name: 7}).core.config, name) == 7
    for bad in (0, -1, 2.5, True, "10"):
        with pytest.raises(ConfigError, match=name):
            Agent(**{name: bad})
