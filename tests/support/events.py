"""Events a test hands a consumer, signed as their producer signs them in production."""


def signed(platform, event):
    """``event``'s wire form, signed with its producer's provisioned test key."""
    return platform.event_signer(event.producer).sign(event).to_wire()
