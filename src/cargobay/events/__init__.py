"""Domain events: every state change is announced here; audit, webhooks and metrics listen."""

from cargobay.events.dispatcher import Dispatcher, Event, EventType

__all__ = ["Dispatcher", "Event", "EventType"]
