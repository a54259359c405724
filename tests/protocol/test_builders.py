"""Frames the server puts on the wire."""

from __future__ import annotations

from datetime import datetime

from custom_components.alphaess_local.protocol import (
    Frame,
    ServerCommand,
    acknowledge,
    config_answer,
    decode_message,
)
from custom_components.alphaess_local.protocol.codec.replies import (
    CommandIndex,
    resume_command,
    set_config_command,
    sync_time_command,
)


def test_acknowledge_any_frame() -> None:
    ack = acknowledge(Frame(1, 77, b"whatever"))
    assert ack == Frame(2, 77, b'{"Status":"Success"}')


def test_config_answer_only_status_by_default() -> None:
    assert config_answer() == Frame(2, 3, b'{"Status":"Success"}')
    answer = config_answer({"GridCharge": "true"})
    assert answer.payload == b'{"Status":"Success","GridCharge":"true"}'


def test_commands_carry_increasing_index() -> None:
    index = CommandIndex(82915609)
    resume = resume_command(index.next(), datetime(2021, 3, 24, 9, 40, 13), 21)
    assert resume.header == (1, 1, 8)
    assert resume.payload == (
        b'{"CmdIndex":"82915609","Command":"Resume",'
        b'"Parameter1":"2021/03/24 09:40:13","Parameter2":"21"}'
    )
    assert decode_message(set_config_command(index.next())) == ServerCommand(
        "SetConfig", "82915610", (), {}
    )
    sync = decode_message(sync_time_command(index.next()))
    assert isinstance(sync, ServerCommand)
    assert sync.command == "SyncTime"
    assert sync.index == "82915611"


def test_default_index_is_eight_digits() -> None:
    assert len(CommandIndex().next()) == 8
