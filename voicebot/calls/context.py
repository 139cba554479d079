"""What a call is about: who we are calling and why. Set before dialing."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class Customer(BaseModel):
    first_name: str
    last_name: str = ""
    phone: str
    timezone: str = "UTC"


class Transaction(BaseModel):
    id: str
    amount: str
    currency: str = "USD"
    merchant: str
    time: datetime


class CallContext(BaseModel):
    """Everything the dialog needs to know before the callee answers."""

    purpose: Literal["transaction_confirmation", "feedback"]
    locale: str = "en-US"
    customer: Customer
    transaction: Transaction | None = None
    case_id: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
