"""Its settings need an endpoint URL (HUB_PLUGIN_BAD_SETTINGS__ENDPOINT) and a number of
retries; the test gives neither a URL nor a number."""

from pydantic import BaseModel, Field, HttpUrl

from plugins import Plugin


class Settings(BaseModel):
    endpoint: HttpUrl
    retries: int = Field(3, ge=0)


plugin = Plugin("bad_settings", settings=Settings)
