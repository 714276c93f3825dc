"""A stand-in for the real dkist-processing-core (not installed here): its TaskBase, for the
errors a half-done move gets."""


class TaskBase:
    def run(self) -> None:
        pass
