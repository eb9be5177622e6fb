def celsius_to_fahrenheit(celsius):
    return celsius * 9 / 5 + 32


def fahrenheit_to_celsius(fahrenheit):
    return (fahrenheit - 32) * 5 / 9


def kelvin_to_celsius(kelvin):
    if kelvin < 0:
        raise ValueError("temperature below absolute zero")
    return kelvin - 273.15


def convert(value, source, target):
    """Convert `value` between the scales "C", "F" and "K"."""
