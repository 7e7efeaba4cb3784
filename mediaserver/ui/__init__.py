"""Page controllers for the templates in web/templates."""
