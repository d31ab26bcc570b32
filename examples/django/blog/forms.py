from django import forms


class PostForm(forms.Form):
    author = forms.CharField(max_length=100)
    title = forms.CharField(max_length=200)
    body = forms.CharField(required=False, widget=forms.Textarea)
