"""Quiet hours: when a channel may not carry marketing messages, in Asia/Taipei wall time.

Windows are written "HH:MM-HH:MM" and separated by commas; a window whose end is before its
start runs over midnight ("21:00-09:00"). A message due inside a window is deferred to the
window's end, never dropped. Settings give each channel's default (CAMPAIGN_QUIET_HOURS); a
campaign may override any channel (Campaign.quiet_hours).
"""

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

WINDOW_PATTERN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
ERROR_WINDOW = _("Write quiet hours as HH:MM-HH:MM, separated by commas (%(text)s).")


class QuietHoursError(ValueError):
    pass


@dataclass(frozen=True)
class Window:
    start: time
    end: time

    def contains(self, moment: time) -> bool:
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end  # over midnight


def windows_parse(text: str) -> tuple[Window, ...]:
    """Raises QuietHoursError for a malformed window or an impossible time."""
    windows = []
    for part in (text or "").split(","):
        if not part.strip():
            continue
        match = WINDOW_PATTERN.match(part)
        try:
            if not match:
                raise ValueError(part)
            h1, m1, h2, m2 = (int(group) for group in match.groups())
            window = Window(time(h1, m1), time(h2, m2))
        except ValueError:
            raise QuietHoursError(str(ERROR_WINDOW % {"text": part.strip()})) from None
        if window.start != window.end:
            windows.append(window)
    return tuple(windows)


def channel_windows(channel: str, overrides: dict | None = None) -> tuple[Window, ...]:
    """The quiet windows of a channel: the campaign's override, else the settings' default."""
    if overrides and channel in overrides:
        return windows_parse(overrides[channel])
    return windows_parse(settings.CAMPAIGN_QUIET_HOURS.get(channel, ""))


def quiet_hours_next_allowed(
    *, channel: str, at: datetime, overrides: dict | None = None
) -> datetime:
    """`at` itself when the channel may send then, else the end of the quiet window it is in
    (following windows that touch or overlap)."""
    windows = channel_windows(channel, overrides)
    if not windows:
        return at
    moment = timezone.localtime(at)
    # Each step leaves one window; more steps than windows means they cover the whole day.
    for _step in range(len(windows) + 1):
        inside = [window for window in windows if window.contains(moment.time())]
        if not inside:
            return moment
        moment = max(_window_end(window, moment) for window in inside)
    raise QuietHoursError(str(_("Quiet hours cover the whole day.")))


def _window_end(window: Window, moment: datetime) -> datetime:
    end = moment.replace(hour=window.end.hour, minute=window.end.minute, second=0, microsecond=0)
    if end <= moment:
        end += timedelta(days=1)
    # Taipei has no daylight saving; localising again keeps this right elsewhere too.
    return timezone.make_aware(end.replace(tzinfo=None), moment.tzinfo)
