"""Where a shipping address is, roughly: the point the NEAREST routing strategy measures
from, and the great-circle distance to a location.

The geocoding rule (no outside service: routing runs inside checkout's transaction):

1. the address's own ``latitude``/``longitude`` when it carries them;
2. else a location of the hub at the same country and postal code (a store's own
   neighbourhood): that location's coordinates;
3. else the centroid of the postal region: US ZIP codes by their first digit (the
   ten national ZIP areas), German and Dutch postcodes by their first digit;
4. else the country's centroid (the table below);
5. else unknown: NEAREST then ranks the locations as DEFAULT does and says so.

The centroids are rounded public figures (good to tens of kilometres), enough to
tell a New Jersey warehouse from a Chicago one or Berlin from Rotterdam.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

Point = tuple[float, float]

# US ZIP areas by first digit (0: New England/NJ ... 9: West coast).
_US_ZIP: dict[str, Point] = {
    "0": (41.6, -72.7),
    "1": (41.5, -76.0),
    "2": (37.5, -78.9),
    "3": (31.6, -84.9),
    "4": (39.8, -84.9),
    "5": (44.5, -93.4),
    "6": (39.2, -92.8),
    "7": (31.5, -96.7),
    "8": (39.6, -109.0),
    "9": (38.0, -121.0),
}
# German Postleitzonen by first digit.
_DE_PLZ: dict[str, Point] = {
    "0": (51.2, 13.2),
    "1": (52.5, 13.4),
    "2": (53.6, 9.9),
    "3": (52.1, 9.9),
    "4": (51.5, 7.2),
    "5": (50.7, 7.0),
    "6": (50.0, 8.6),
    "7": (48.7, 9.0),
    "8": (48.2, 11.5),
    "9": (49.6, 11.2),
}
# Dutch postcodes by first digit.
_NL_PC: dict[str, Point] = {
    "1": (52.4, 4.9),
    "2": (52.1, 4.4),
    "3": (51.9, 4.9),
    "4": (51.5, 4.0),
    "5": (51.5, 5.5),
    "6": (51.6, 5.9),
    "7": (52.4, 6.6),
    "8": (52.6, 5.8),
    "9": (53.2, 6.6),
}
_POSTAL: dict[str, dict[str, Point]] = {"US": _US_ZIP, "DE": _DE_PLZ, "NL": _NL_PC}

COUNTRY_CENTROIDS: dict[str, Point] = {
    "US": (39.8, -98.6),
    "CA": (56.1, -106.3),
    "MX": (23.6, -102.6),
    "BR": (-14.2, -51.9),
    "AR": (-38.4, -63.6),
    "GB": (54.0, -2.5),
    "IE": (53.4, -8.2),
    "FR": (46.2, 2.2),
    "DE": (51.2, 10.5),
    "NL": (52.1, 5.3),
    "BE": (50.5, 4.5),
    "LU": (49.8, 6.1),
    "CH": (46.8, 8.2),
    "AT": (47.5, 14.6),
    "IT": (41.9, 12.6),
    "ES": (40.5, -3.7),
    "PT": (39.4, -8.2),
    "DK": (56.3, 9.5),
    "SE": (60.1, 18.6),
    "NO": (60.5, 8.5),
    "FI": (61.9, 25.7),
    "PL": (51.9, 19.1),
    "CZ": (49.8, 15.5),
    "HU": (47.2, 19.5),
    "GR": (39.1, 21.8),
    "TR": (39.0, 35.2),
    "JP": (36.2, 138.3),
    "CN": (35.9, 104.2),
    "IN": (20.6, 79.0),
    "KR": (35.9, 127.8),
    "SG": (1.35, 103.8),
    "AU": (-25.3, 133.8),
    "NZ": (-40.9, 174.9),
    "ZA": (-30.6, 22.9),
}


def geocode(
    address: Mapping[str, Any] | None, sites: Iterable[Any] = ()
) -> tuple[Point, str] | None:
    """The destination point of ``address`` and how it was found (the module's rule);
    ``sites`` are locations with ``country``, ``postal_code``, ``lat``, ``lng``."""
    if not address:
        return None
    lat, lng = address.get("latitude"), address.get("longitude")
    try:
        if lat is not None and lng is not None:
            p = (float(lat), float(lng))
            if -90 <= p[0] <= 90 and -180 <= p[1] <= 180:
                return p, "the address's coordinates"
    except (TypeError, ValueError):
        pass
    country = str(address.get("countryCode") or "").upper()
    postal = "".join(str(address.get("postalCode") or "").split()).upper()
    if postal:
        for s in sites:
            if (
                s.country == country
                and "".join((s.postal_code or "").split()).upper() == postal
                and s.lat is not None
                and s.lng is not None
            ):
                return (s.lat, s.lng), f"postal code {postal} ({country}) is {s.name}'s"
        region = _POSTAL.get(country, {}).get(postal[:1])
        if region is not None:
            return region, f"centroid of {country} postal area {postal[:1]}"
    if country in COUNTRY_CENTROIDS:
        return COUNTRY_CENTROIDS[country], f"centroid of {country}"
    return None


def distance_km(a: Point, b: Point) -> float:
    """Great-circle (haversine) distance in kilometres."""
    lat1, lng1, lat2, lng2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))
