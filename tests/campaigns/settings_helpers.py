"""Settings shared by campaigns' tests and the browser tests that launch a campaign."""


def use_sandbox(settings, var_dir) -> None:
    """The sandbox for every channel, writing under var_dir; no quiet hours, no rate limits.

    Tests run at any hour; a test about quiet hours or rate limits sets its own."""
    settings.VAR_DIR = var_dir
    settings.CAMPAIGN_QUIET_HOURS = {"sms": "", "push": "", "line": "", "email": ""}
    settings.CAMPAIGN_RATE_LIMITS = {"line": 0, "email": 0, "sms": 0, "push": 0}
    settings.CAMPAIGN_BACKENDS = {
        channel: f"campaigns.backends.sandbox.Sandbox{name}"
        for channel, name in (
            ("line", "Line"),
            ("email", "Email"),
            ("sms", "Sms"),
            ("push", "Push"),
        )
    }
