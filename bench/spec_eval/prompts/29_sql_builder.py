class Query:
    """Builds a parameterized SELECT statement step by step."""

    def __init__(self, table):
        self.table = table
        self.columns = ["*"]
        self.conditions = []
        self.parameters = []
        self.order = None
        self.limit_count = None

    def select(self, *columns):
        self.columns = list(columns)
        return self

    def where(self, condition, *parameters):
        self.conditions.append(condition)
        self.parameters.extend(parameters)
        return self

    def build(self):
