OPERATORS = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
}


def evaluate_rpn(expression):
    """Evaluate an expression in reverse Polish notation, e.g. "3 4 + 2 *"."""
    stack = []
    for token in expression.split():
        if token in OPERATORS:
            if len(stack) < 2:
                raise ValueError("not enough operands for " + token)
