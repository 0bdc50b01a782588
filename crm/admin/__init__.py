"""The Django admin of crm: operators fix data here, at a million members.

Every list page is bounded (the shared large-table tools, omnichannel/admin_tools.py): no
COUNT(*) of the whole table, no filter whose choices come from scanning the table, searches that
hit indexes (exact member numbers and identifiers in any spelling, a name prefix as an index
range), and only indexed columns sortable.

Exports (django-import-export resources, crm/resources.py) mask personal data for viewers
without crm.unmask_personal_data; a short list is answered at once (CSV streamed row by row), a
long one is written by a Celery worker (ExportJob, crm/services/exports.py).

Stores and tags import through a plain resource; members and orders import through the preset
import (ImportJob), so every row goes through identity resolution (docs/design-notes.md).

The parts:
- base.py: crm's configuration of the shared tools (permissions, masking, the ExportJob for a
  long export, the source filter);
- search.py: searching by the member a row belongs to (MemberSearchMixin);
- preset_import.py: the "Import a file" button (PresetImportMixin);
- confirm.py: actions that ask for a reason first;
- members.py: members, identities, consent; orders.py: orders, touchpoints; merges.py: merge and
  erasure records; jobs.py: ImportJob, ExportJob; api_keys.py: API keys; reference.py: stores,
  tags; notes.py: profile notes.

Importing this package registers every model admin (Django's autodiscovery imports it).
"""

from crm.admin import api_keys, jobs, members, merges, notes, orders, reference

__all__ = ["api_keys", "jobs", "members", "merges", "notes", "orders", "reference"]
