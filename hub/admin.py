"""The admin carries the product's name (the operations console of Model Hub)."""

from django.contrib import admin

admin.site.site_header = "Model Hub administration"
admin.site.site_title = "Model Hub admin"
admin.site.index_title = "Operations console"
