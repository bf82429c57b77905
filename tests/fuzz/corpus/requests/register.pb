
Adaada@example.com	password1