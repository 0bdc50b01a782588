"""The campaign content the load runs send: the worker-kill test and bench/send_campaign.py.

No personalisation in the LINE text, so one multicast per batch carries the same message; the
e-mail is personalised ({{name}}), so each one is rendered."""

LINE_CONTENT = {"messages": [{"type": "text", "text": "週年慶開跑，全館八折！"}]}
EMAIL_CONTENT = {
    "subject": "週年慶開跑",
    "text": "{{name}} 您好，全館八折。",
    "html": "<p>{{name}} 您好，全館八折。</p>",
}
