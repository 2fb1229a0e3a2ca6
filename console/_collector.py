"""``Collector``: find daemons, query ads, advertise ads (HTCondor's shape)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from enum import IntEnum
from typing import Any

import classad
from qmf_agent.errors import UnknownObject

from ._connection import ad_from_wire, ads_from_wire
from ._daemon_object import DaemonObject
from .enums import AdTypes, DaemonTypes

__all__ = ["Collector"]

log = logging.getLogger(__name__)


def _enum_name(value: Any, enum: type[IntEnum], what: str) -> str:
    if isinstance(value, enum):
        return str(value.name)
    if isinstance(value, str) and value in enum.__members__:
        return value
    raise ValueError(f"unknown {what} {value!r} (one of {', '.join(enum.__members__)})")


class Collector(DaemonObject):
    """The ad registry at a location (None: ``$QMF_URL`` or the default)."""

    _qmf_class = "collector"

    def locate(self, daemon_type: DaemonTypes | str, name: str | None = None) -> classad.ClassAd:
        """The location ad of one daemon (the first of its type when *name*
        is None); raises UnknownObject when there is none."""
        out = self._invoke("Locate", DaemonType=_enum_name(daemon_type, DaemonTypes, "daemon type"), Name=name)
        ad = out.get("Ad")
        if not isinstance(ad, Mapping) or not ad:
            raise UnknownObject(f"no {_enum_name(daemon_type, DaemonTypes, 'daemon type')} daemon"
                                + (f" named {name}" if name else "") + f" at {self.url}")
        return ad_from_wire(ad)

    def locateAll(self, daemon_type: DaemonTypes | str) -> list[classad.ClassAd]:
        """The location ads of every daemon of a type."""
        out = self._invoke("LocateAll", DaemonType=_enum_name(daemon_type, DaemonTypes, "daemon type"))
        return ads_from_wire(out.get("Ads"))

    locate_all = locateAll

    def query(
        self,
        ad_type: AdTypes | str = AdTypes.Any,
        constraint: Any = "true",
        projection: Sequence[str] | None = None,
    ) -> list[classad.ClassAd]:
        """Ads of *ad_type* matching *constraint*, with only *projection*
        attributes (plus the few the collector always adds) when given."""
        text = "true" if constraint in (None, True) else str(constraint)
        try:
            classad.ExprTree(text)
        except ValueError as e:
            raise ValueError(f"bad constraint {text!r}: {e}") from None
        out = self._invoke(
            "Query",
            AdType=_enum_name(ad_type, AdTypes, "ad type"),
            Constraint=text,
            Projection=list(projection or []),
        )
        return ads_from_wire(out.get("Ads"))

    def advertise(self, ads: Sequence[classad.ClassAd], command: str = "UPDATE_AD_GENERIC", use_tcp: bool = True) -> None:
        """Publish *ads* (an ad with the same ``MyType`` and ``Name`` replaces
        the one before it).  ``use_tcp`` is accepted for compatibility."""
        if isinstance(ads, (classad.ClassAd, Mapping)):
            raise TypeError("advertise() takes a list of ClassAds")
        wire = [classad.encode_job_ad(ad if isinstance(ad, classad.ClassAd) else classad.ClassAd(dict(ad)), "typed")
                for ad in ads]
        self._invoke("Advertise", Ads=wire, Command=command)
