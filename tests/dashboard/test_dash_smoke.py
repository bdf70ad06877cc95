from __future__ import annotations


def test_phones_as_user(app, world, shown):
    at = app(world.alice_id)
    print(shown(at))
