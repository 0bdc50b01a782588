"""`manage.py create_api_key NAME --channel C --scope S [--scope S2]`: a new API key, shown once."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.services.api_keys import ApiKeyError, api_key_create
from omnichannel.api.scopes import Scope
from omnichannel.channels import Channel


class Command(BaseCommand):
    help = (
        "Make an API key for one of the brand's systems and print it, once: only its hash is "
        "stored, so copy it now. --scope says what the key may do (repeat it for several): "
        + "; ".join(f"{scope.value} ({scope.label})" for scope in Scope)
        + ". A key without a scope an operation needs gets a 403 there."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="which system uses the key (unique)")
        parser.add_argument(
            "--channel",
            required=True,
            help="the channel the system writes: " + ", ".join(Channel.values),
        )
        parser.add_argument(
            "--scope",
            action="append",
            required=True,
            dest="scopes",
            metavar="SCOPE",
            help="what the key may do: " + ", ".join(Scope.values),
        )

    def handle(self, *args, name: str, channel: str, scopes: list[str], **options) -> None:
        try:
            api_key, key = api_key_create(name=name, channel=channel, actor=None, scopes=scopes)
        except ApiKeyError as exc:
            raise CommandError(str(exc)) from None
        self.stderr.write(
            f"Key {api_key.prefix}… “{api_key.name}” for {api_key.channel}, scopes "
            f"{', '.join(api_key.scopes)}. Copy it now; it is not shown again:"
        )
        # The key alone on stdout, so `KEY=$(manage.py create_api_key …)` captures it.
        self.stdout.write(key)
