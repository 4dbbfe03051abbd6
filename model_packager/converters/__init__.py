"""Framework converters (one module each) behind the Converter interface."""
