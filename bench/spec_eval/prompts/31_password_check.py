import string

MIN_LENGTH = 12


def password_problems(password):
    """List the reasons `password` is too weak; an empty list means it is acceptable."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"shorter than {MIN_LENGTH} characters")
    if not any(c in string.ascii_lowercase for c in password):
        problems.append("no lowercase letter")
