"""Tax engines: ``RulesTaxEngine`` (a rates table in the hub) and ``HttpTaxEngine``
(an external tax service, falling back to another engine when it fails).

Both implement ``connectors.base.TaxEngine``; the domain depends on that protocol only.
"""

from connectors.base import TaxBreakdown, TaxEngine, TaxLine, TaxRequest, TaxResult, TaxUnavailable
from connectors.tax.builtin import RulesTaxEngine, TaxRules, TaxRulesError, TaxZone, default_rules
from connectors.tax.http import HttpTaxEngine

__all__ = [
    "HttpTaxEngine",
    "RulesTaxEngine",
    "TaxBreakdown",
    "TaxEngine",
    "TaxLine",
    "TaxRequest",
    "TaxResult",
    "TaxRules",
    "TaxRulesError",
    "TaxUnavailable",
    "TaxZone",
    "default_rules",
]
