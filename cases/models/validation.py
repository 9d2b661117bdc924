"""Database constraints, when model validation finds one violated, as a field error in the user's words.

Django reports a violated ``CheckConstraint`` as ``Constraint "interest_share_exact_0_100" is
violated.`` on the whole form. A model that lists its constraints in ``constraint_messages`` gets,
instead, the message under the field the user has to change, in the admin and in the API alike
(both validate through ``full_clean``). The constraints themselves stay the last line of defence.
"""

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models, router


class ConstraintMessages(models.Model):
    #: constraint name → (the field to show it on, the message).
    constraint_messages: dict[str, tuple[str, str]] = {}

    class Meta:
        abstract = True

    def validate_constraints(self, exclude=None):
        using = router.db_for_write(type(self), instance=self)
        errors: dict[str, list[ValidationError]] = {}
        for constraint in self._meta.constraints:
            try:
                constraint.validate(type(self), self, exclude=exclude, using=using)
            except ValidationError as exc:
                field, message = self.constraint_messages.get(constraint.name, (None, None))
                if field is None:
                    errors.setdefault(NON_FIELD_ERRORS, []).extend(exc.error_list)
                else:
                    errors.setdefault(field, []).append(ValidationError(message, code=constraint.name))
        if errors:
            raise ValidationError(errors)
